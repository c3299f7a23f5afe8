"""Seeded, nested labeled / unlabeled split lists over data converted by
mmseg's own converters (mmsegmentation's tools/dataset_converters/potsdam.py,
vaihingen.py, loveda.py, ...), for the mmseg-protocol configs
(configs/mmseg_protocol/, docs/mmseg_zoo.md). The data is used where it lies:
no copy, no second converter.

The training set is every image of ``DATA_ROOT/<img-dir>`` (default
``img_dir/train``, searched recursively as mmseg's datasets do), or the names
of ``--train-list`` (a list such as VOC's ``ImageSets/Segmentation/train.txt``);
each must have its label in ``DATA_ROOT/<ann-dir>``. For each ratio,
floor(ratio x n) names are labeled: the first of one seeded order of the
training set, so a smaller ratio's labeled set lies in every larger one's;
the unlabeled list is the rest of the training set. Output, one name a line
(relative to the image folder, no suffix: mmseg's ``ann_file`` format)::

    DATA_ROOT/splits/mmseg/train_labeled_<1of16|1of8|1of4|1of2>.txt
    DATA_ROOT/splits/mmseg/train_unlabeled_<...>.txt
    DATA_ROOT/splits/mmseg/meta.json        seed, folders, counts

(``splits/mmseg/`` keeps them apart from the DWL converters' ``splits/``;
both default to data/potsdam and data/vaihingen.) Re-running with the same
data and seed rewrites the same lists; lists that would change (another seed,
other data) are refused unless ``--force``.

Usage::

    python tools/dataset_converters/mmseg_splits.py DATA_ROOT
        [--ratios 1/16 1/8 1/4 1/2] [--seed 42] [--img-dir img_dir/train]
        [--ann-dir ann_dir/train] [--img-suffix .png] [--seg-map-suffix .png]
        [--train-list FILE] [--force]

e.g. ``mmseg_splits.py data/potsdam`` after mmseg's
``python tools/dataset_converters/potsdam.py /path/to/potsdam_zips -o data/potsdam``.
"""
import argparse
import json
import os
import os.path as osp
from typing import Dict, List, Sequence

from semiearth.apis.mmseg_protocol import PROTOCOL_RATIOS, SPLIT_DIR, protocol_ratio_tag
from semiearth.datasets.converters import nested_labeled, parse_split_list, run
from semiearth.utils import atomic_write_text

CONVERTERS = ("mmseg's converter (mmsegmentation tools/dataset_converters/<dataset>.py, "
              'e.g. python tools/dataset_converters/potsdam.py RAW_DIR -o DATA_ROOT)')


def parse_args(argv=None) -> argparse.Namespace:
    head, _, rest = __doc__.strip().partition('\n\n')
    p = argparse.ArgumentParser(description=head, epilog=rest.replace('``', ''),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('data_root', help="data converted by mmseg's converter")
    p.add_argument('--ratios', nargs='+', default=list(PROTOCOL_RATIOS),
                   help=f"labeled ratios (of {', '.join(PROTOCOL_RATIOS)})")
    p.add_argument('--seed', type=int, default=42)
    p.add_argument('--img-dir', default='img_dir/train', help='training images, under DATA_ROOT')
    p.add_argument('--ann-dir', default='ann_dir/train', help='training labels, under DATA_ROOT')
    p.add_argument('--img-suffix', default='.png')
    p.add_argument('--seg-map-suffix', default='.png')
    p.add_argument('--train-list', help='the training names (default: every image of --img-dir)')
    p.add_argument('--force', action='store_true', help='replace lists that would change')
    return p.parse_args(argv)


def _few(items: Sequence[str], n: int = 5) -> str:
    more = f' (and {len(items) - n} more)' if len(items) > n else ''
    return ', '.join(f"'{s}'" for s in items[:n]) + more


def train_names(args: argparse.Namespace) -> List[str]:
    """The training set: names relative to the image folder, without suffix,
    each checked to have its image and label."""
    img_dir = osp.join(args.data_root, args.img_dir)
    ann_dir = osp.join(args.data_root, args.ann_dir)
    if not osp.isdir(img_dir):
        raise FileNotFoundError(
            f"image folder '{img_dir}' does not exist. Fix: convert the dataset with "
            f'{CONVERTERS}, or give --img-dir.')
    if args.train_list:
        path = args.train_list if osp.isfile(args.train_list) else \
            osp.join(args.data_root, args.train_list)
        names = parse_split_list(path)
        missing = [n for n in names if not osp.isfile(osp.join(img_dir, n + args.img_suffix))]
        if missing:
            raise FileNotFoundError(
                f"--train-list '{path}' names {len(missing)} image(s) not in '{img_dir}' "
                f"(suffix {args.img_suffix}): {_few(missing)}. Fix: the list of this data, "
                'or --img-dir / --img-suffix.')
    else:
        names = []
        for folder, _, files in os.walk(img_dir):
            rel = osp.relpath(folder, img_dir)
            for f in files:
                if f.endswith(args.img_suffix) and not f.startswith('.'):
                    name = f[:-len(args.img_suffix)]
                    names.append(name if rel == '.' else osp.join(rel, name).replace(os.sep, '/'))
        if not names:
            raise FileNotFoundError(
                f"no '*{args.img_suffix}' image in '{img_dir}'. Fix: convert the dataset with "
                f'{CONVERTERS}, or give --img-dir / --img-suffix.')
    unlabelled = [n for n in names
                  if not osp.isfile(osp.join(ann_dir, n + args.seg_map_suffix))]
    if unlabelled:
        raise FileNotFoundError(
            f"{len(unlabelled)} of {len(names)} training images have no label in '{ann_dir}' "
            f'(suffix {args.seg_map_suffix}): {_few(unlabelled)}. The labeled lists must be '
            f'drawn from labelled images. Fix: re-run {CONVERTERS}, or give --ann-dir / '
            '--seg-map-suffix.')
    return sorted(names)


def _read(path: str) -> List[str]:
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def write_lists(out_dir: str, lists: Dict[str, List[str]], force: bool) -> None:
    """``<out_dir>/<name>.txt`` per list, each written atomically; a list
    that exists with other names is refused without ``force``."""
    os.makedirs(out_dir, exist_ok=True)
    for name, items in lists.items():
        path = osp.join(out_dir, f'{name}.txt')
        if osp.isfile(path) and not force and _read(path) != list(items):
            raise ValueError(
                f"'{path}' exists with other names (written with another --seed, or for other "
                'data). Fix: --force to replace it; runs and VLM calibrations made with the '
                'old list are then not comparable with new ones.')
    for name, items in lists.items():
        atomic_write_text(osp.join(out_dir, f'{name}.txt'), ''.join(f'{s}\n' for s in items))


def main(argv=None) -> dict:
    """Write the lists; returns the record written to ``meta.json``."""
    args = parse_args(argv)
    tags = [protocol_ratio_tag(r) for r in args.ratios]
    if not osp.isdir(args.data_root):
        raise FileNotFoundError(f"data root '{args.data_root}' does not exist. Fix: convert "
                                f'the dataset with {CONVERTERS}.')
    names = train_names(args)
    ratios = [t.replace('of', '/') for t in tags]
    lists = nested_labeled(names, ratios, args.seed)
    out_dir = osp.join(args.data_root, SPLIT_DIR)
    write_lists(out_dir, lists, args.force)
    meta = dict(seed=args.seed, img_dir=args.img_dir, ann_dir=args.ann_dir,
                img_suffix=args.img_suffix, seg_map_suffix=args.seg_map_suffix,
                train_list=args.train_list, train=len(names),
                lists={k: len(v) for k, v in lists.items()})
    atomic_write_text(osp.join(out_dir, 'meta.json'), json.dumps(meta, indent=1))
    print(f'{len(names)} training images in {osp.join(args.data_root, args.img_dir)} -> '
          + ', '.join(f"{t}: {len(lists[f'train_labeled_{t}'])} labeled / "
                      f"{len(lists[f'train_unlabeled_{t}'])} unlabeled" for t in tags)
          + f' in {out_dir}')
    return meta


if __name__ == '__main__':
    run(main, 'mmseg_splits.py')
