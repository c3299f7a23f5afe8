"""Import a published split list (SemiEarth's, UniMatch's, ...) as a split
file of converted data.

The list holds one entry a line: a crop name (``potsdam_2_10_0_0``), a file
name with suffix and folders (``img_dir/potsdam_2_10_0_0.png``), or
UniMatch's ``images/x.png labels/x.png`` lines; the stem of the first token
counts. Blank lines and ``#`` comments are skipped, repeated names kept once.
Every name must be a converted crop, ``DATA_ROOT/img_dir/<name><suffix>``;
otherwise nothing is written and the error says how many are missing and
names the first few. Writes ``DATA_ROOT/splits/<name>.txt``; with
``--unlabeled-from train`` also the rest of ``splits/train.txt`` as
``splits/train_unlabeled_<tag>.txt`` (the ``labeled`` in ``--name`` becomes
``unlabeled``, or give ``--unlabeled-name``), and every listed name must then
be in ``splits/train.txt``.

Usage::

    python tools/dataset_converters/import_split.py DATA_ROOT LIST \\
        --name train_labeled_1pct [--unlabeled-from train] [--unlabeled-name NAME]
        [--img-suffix .png]

e.g. ``import_split.py data/potsdam their_1pct.txt --name train_labeled_1pct
--unlabeled-from train``.
"""
import argparse
import os.path as osp
import re

from semiearth.datasets.converters import parse_split_list, run, write_splits


def parse_args(argv=None):
    head, _, rest = __doc__.strip().partition('\n\n')
    p = argparse.ArgumentParser(description=head, epilog=rest.replace('``', ''),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('data_root', help='converted data (with img_dir/ and splits/)')
    p.add_argument('list', help='the published list')
    p.add_argument('--name', required=True, help='split name, e.g. train_labeled_1pct')
    p.add_argument('--unlabeled-from', metavar='SPLIT',
                   help='also write the complement within splits/SPLIT.txt')
    p.add_argument('--unlabeled-name',
                   help='name of the complement (default: --name with labeled -> unlabeled)')
    p.add_argument('--img-suffix', default='.png')
    args = p.parse_args(argv)
    for name in (args.name, args.unlabeled_name):
        if name is not None and not re.fullmatch(r'[\w.-]+', name):
            p.error(f'split name {name!r}: use letters, digits, _ . - only')
    if args.unlabeled_from and not args.unlabeled_name:
        if not re.search(r'(?<!un)labeled', args.name):
            p.error(f'--name {args.name!r} has no "labeled" to turn into "unlabeled"; '
                    'give --unlabeled-name')
        args.unlabeled_name = re.sub(r'(?<!un)labeled', 'unlabeled', args.name, count=1)
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    names = parse_split_list(args.list)
    img_dir = osp.join(args.data_root, 'img_dir')
    if not osp.isdir(img_dir):
        raise FileNotFoundError(f"'{img_dir}' does not exist. Fix: convert the dataset "
                                'first (tools/dataset_converters/<dataset>.py).')
    missing = [n for n in names if not osp.isfile(osp.join(img_dir, n + args.img_suffix))]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of the {len(names)} names in '{args.list}' are not crops in "
            f"'{img_dir}' (as <name>{args.img_suffix}): {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}. Fix: check that the list belongs to "
            'this dataset and its crop naming (tools/dataset_converters/<dataset>.py '
            '--help).')
    splits = {args.name: names}
    if args.unlabeled_from:
        pool_path = osp.join(args.data_root, 'splits', args.unlabeled_from + '.txt')
        if not osp.isfile(pool_path):
            raise FileNotFoundError(f"split '{pool_path}' does not exist.")
        pool = parse_split_list(pool_path)
        in_pool = set(pool)
        outside = [n for n in names if n not in in_pool]
        if outside:
            raise ValueError(f"{len(outside)} of the {len(names)} names in '{args.list}' "
                             f'are not in splits/{args.unlabeled_from}.txt: {outside[:5]}'
                             f"{' ...' if len(outside) > 5 else ''}. Fix: the list must "
                             f'be a subset of that split (another seed or protocol?).')
        chosen = set(names)
        splits[args.unlabeled_name] = [n for n in pool if n not in chosen]
    write_splits(args.data_root, splits)
    print(', '.join(f'splits/{k}.txt: {len(v)}' for k, v in splits.items()))
    return splits


if __name__ == '__main__':
    run(main, 'import_split')
