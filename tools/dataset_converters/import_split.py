"""Import a published split list (SemiEarth's, UniMatch's...) as a split file.

Accepts one name a line: a crop name, a file name with suffix or path, or
UniMatch's ``images/x.png labels/x.png`` lines (the first token counts).
Every name must be a converted crop in DATA_ROOT/img_dir. Writes
``splits/<name>.txt``; with ``--unlabeled-from train`` also the rest of
``splits/train.txt`` as ``splits/<name with labeled -> unlabeled>.txt``.

Usage::

    python tools/dataset_converters/import_split.py data/potsdam their_1pct.txt \\
        --name train_labeled_1pct --unlabeled-from train
"""
import argparse
import os.path as osp

import _path  # noqa: F401
from semiearth.datasets import RSSegDataset
from semiearth.datasets.converters import write_splits


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('data_root')
    p.add_argument('list', help='the published list')
    p.add_argument('--name', required=True, help='split name, e.g. train_labeled_1pct')
    p.add_argument('--unlabeled-from', metavar='SPLIT',
                   help='also write the complement within splits/SPLIT.txt')
    p.add_argument('--img-suffix', default='.png')
    return p.parse_args(argv)


def read_names(path):
    """Crop names of a published list (stems of each line's first token)."""
    names = []
    for line in RSSegDataset.read_split(path):
        first = line.split()[0]
        names.append(osp.splitext(osp.basename(first))[0])
    return names


def main(argv=None):
    args = parse_args(argv)
    names = read_names(args.list)
    missing = [n for n in names if not osp.isfile(
        osp.join(args.data_root, 'img_dir', n + args.img_suffix))]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of the {len(names)} names in '{args.list}' are not "
            f"crops in '{args.data_root}/img_dir': {missing[:5]}. Fix: convert the "
            'dataset with the same crop naming, or check that the list belongs to it.')
    splits = {args.name: names}
    if args.unlabeled_from:
        pool = RSSegDataset.read_split(
            osp.join(args.data_root, 'splits', args.unlabeled_from + '.txt'))
        outside = sorted(set(names) - set(pool))
        if outside:
            raise ValueError(f"{len(outside)} names of '{args.list}' are not in "
                             f'splits/{args.unlabeled_from}.txt: {outside[:5]}.')
        chosen = set(names)
        splits[args.name.replace('labeled', 'unlabeled')] = [n for n in pool if n not in chosen]
    write_splits(args.data_root, splits)
    print({k: len(v) for k, v in splits.items()})
    return splits


if __name__ == '__main__':
    main()
