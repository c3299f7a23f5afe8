"""Convert ISPRS Vaihingen to SemiEarth's layout (LSST / WSCL protocol).

Download (ISPRS): ``ISPRS_semantic_labeling_Vaihingen.zip`` (IRRG tiles
``top/top_mosaic_09cm_area<N>.tif``) and
``ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE.zip`` (RGB-coded
``top_mosaic_09cm_area<N>.tif``), as zips or extracted, under RAW_DIR. Every
area is cut in crops of 512 (zero-padded, label 255). The official split:
train areas 1 3 5 7 11 13 15 17 21 23 26 28 30 32 34 37, the others test;
the protocol evaluates on the test areas, so val.txt is test.txt. Labeled
1/8 and 1/4 of train, nested. 6 classes (clutter is class 5).

Usage::

    python tools/dataset_converters/vaihingen.py RAW_DIR [--out data/vaihingen]
"""
import os.path as osp

import _path  # noqa: F401
from potsdam import isprs_colours, tiles_by_id
from semiearth.datasets import VaihingenDataset
from semiearth.datasets.converters import decode_rgb_label, find_raw
from semiearth.datasets.converters.cli import base_parser, check_complete, convert, pair_tiles

TRAIN = [1, 3, 5, 7, 11, 13, 15, 17, 21, 23, 26, 28, 30, 32, 34, 37]
TEST = [2, 4, 6, 8, 10, 12, 14, 16, 20, 22, 24, 27, 29, 31, 33, 35, 38]


def official_split(crops):
    def area(name):  # vaihingen_<area>_<row>_<col>
        return int(name.split('_')[1])
    train = [c for c in crops if area(c) in TRAIN]
    test = [c for c in crops if area(c) in TEST]
    return dict(train=train, val=test, test=test)


def main(argv=None):
    args = base_parser(__doc__.split('\n\n')[0], 'vaihingen', ['1/8', '1/4']).parse_args(argv)
    raw = osp.join(args.out, 'raw')
    found = find_raw(args.src, 'top_mosaic_09cm_area*.tif', raw)
    # images and labels share file names: the image release keeps its tiles
    # in a folder named top/, the ground truth does not
    in_top = [osp.basename(osp.dirname(p)) == 'top' for p in found]
    pattern = r'top_mosaic_09cm_area(\d+)\.tif'
    images = tiles_by_id([p for p, t in zip(found, in_top) if t], pattern)
    labels = tiles_by_id([p for p, t in zip(found, in_top) if not t], pattern)
    check_complete(labels, [str(a) for a in TRAIN + TEST],
                   'labelled Vaihingen areas', args.allow_subset)
    tiles = pair_tiles(images, labels, 'Vaihingen')
    colours = isprs_colours(VaihingenDataset.METAINFO['palette'])
    return convert(args, [(f'vaihingen_{t}', i, lab) for t, i, lab in tiles],
                   lambda rgb, path: decode_rgb_label(rgb, colours, path),
                   len(VaihingenDataset.METAINFO['classes']), official_split)


if __name__ == '__main__':
    main()
