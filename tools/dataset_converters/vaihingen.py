"""Convert ISPRS Vaihingen to SemiEarth's layout (LSST / WSCL protocol).

Download (ISPRS 2D semantic labelling, Vaihingen), anywhere under RAW_DIR,
as the zip files or the folders they were extracted to (searched
recursively; archives are read in place, nothing is extracted)::

    RAW_DIR/ISPRS_semantic_labeling_Vaihingen.zip
        top/top_mosaic_09cm_area1.tif, ...      IRRG tiles (about 2000 x 2500)
    RAW_DIR/ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE.zip
        top_mosaic_09cm_area1.tif, ...          RGB-coded labels, all 33 areas
    (or, with --no-boundary, ..._ground_truth_eroded_COMPLETE.zip with
     top_mosaic_09cm_area1_noBoundary.tif, ...: the eroded labels)

The image archive's ``gts_for_participants/`` holds the labels of the
training areas only; the test areas' labels come from the COMPLETE archive.
Label colours -> class index as mmseg's ISPRSDataset:
impervious surfaces (255,255,255) 0, building (0,0,255) 1, low vegetation
(0,255,255) 2, tree (0,255,0) 3, car (255,255,0) 4, clutter (255,0,0) 5;
the black boundary of the eroded release -> 255. Each channel is binarised
at 128 first; any other colour is an error naming the file.

Every area is zero-padded to a multiple of 512 (label 255) and cut into
crops. The official split: train areas 1 3 5 7 11 13 15 17 21 23 26 28 30 32
34 37, test areas 2 4 6 8 10 12 14 16 20 22 24 27 29 31 33 35 38. The LSST /
WSCL protocol evaluates on the test areas and has no validation set, so
val.txt is a copy of test.txt. Labeled 1/8 and 1/4 of the training crops,
nested, seed 42. Output (``--out``, default ``data/vaihingen``)::

    img_dir/vaihingen_<area>_<row>_<col>.png  IRRG in the PNG's R, G, B
    ann_dir/vaihingen_<area>_<row>_<col>.png  class index, 255 = ignore
    splits/train.txt val.txt (= test.txt) test.txt
    splits/train_labeled_1of8.txt train_unlabeled_1of8.txt (1of4)
    meta.json

Usage::

    python tools/dataset_converters/vaihingen.py RAW_DIR [--out data/vaihingen]
        [--crop 512] [--seed 42] [--ratios 1/8 1/4] [--no-boundary]
        [--allow-subset] [--force]
"""
from semiearth.datasets import VaihingenDataset
from semiearth.datasets.converters import (base_parser, collect_pairs, colour_code, convert,
                                           decode_rgb_label, find_raw, isprs_colours, parse,
                                           run, tiles_by_id)

TRAIN_AREAS = (1, 3, 5, 7, 11, 13, 15, 17, 21, 23, 26, 28, 30, 32, 34, 37)
TEST_AREAS = (2, 4, 6, 8, 10, 12, 14, 16, 20, 22, 24, 27, 29, 31, 33, 35, 38)


def parse_args(argv=None):
    p = base_parser(__doc__, 'vaihingen', ['1/8', '1/4'])
    p.add_argument('--no-boundary', action='store_true',
                   help='read the eroded labels (*_noBoundary.tif) instead of the '
                   'full ones')
    return parse(p, argv)


def _parent(path: str) -> str:
    return path.replace('\\', '/').rsplit('/', 2)[-2]


def official_split(crops_of):
    """train: the crops of the training areas; val = test: the test areas'."""
    def crops(areas):
        return sorted(c for t, cs in crops_of.items()
                      if int(t.rsplit('_', 1)[-1]) in areas for c in cs)
    return dict(train=crops(TRAIN_AREAS), val=crops(TEST_AREAS), test=crops(TEST_AREAS))


def main(argv=None) -> dict:
    args = parse_args(argv)
    suffix = '_noBoundary' if args.no_boundary else ''
    image_re = r'top_mosaic_09cm_area(\d+)\.tif'
    label_re = rf'top_mosaic_09cm_area(\d+){suffix}\.tif'
    # images and full labels share file names: the images lie in top/, the
    # labels at the root of the COMPLETE archive (a copy of the training
    # areas' labels in gts_for_participants/ of the image archive is the same)
    images = tiles_by_id(find_raw(args.src, lambda p: p.endswith('.tif')
                                  and _parent(p) == 'top'), image_re)
    labels = tiles_by_id(find_raw(args.src, lambda p: p.endswith(f'{suffix}.tif')
                                  and _parent(p) != 'top'), label_re)
    names = dict(image='top/top_mosaic_09cm_area{}.tif',
                 label=f'top_mosaic_09cm_area{{}}{suffix}.tif')
    tiles = collect_pairs(images, labels, 'Vaihingen', args.allow_subset,
                          expected=[str(a) for a in TRAIN_AREAS + TEST_AREAS],
                          describe=lambda kind, t: names[kind].format(t),
                          hint='The labels of all 33 areas are in ISPRS_semantic_labeling_'
                          f"Vaihingen_ground_truth_{'eroded_' if suffix else ''}COMPLETE.zip.")
    colours = isprs_colours(with_clutter=True)
    return convert(args, [(f'vaihingen_{t}', img, lab) for t, img, lab in tiles],
                   lambda rgb, path: decode_rgb_label(rgb, colours, path),
                   VaihingenDataset.METAINFO['classes'], colour_code(colours),
                   make_splits=official_split)


if __name__ == '__main__':
    run(main, 'vaihingen converter')
