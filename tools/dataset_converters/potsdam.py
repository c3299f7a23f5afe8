"""Convert ISPRS Potsdam to SemiEarth's layout under the DWL protocol.

Download (ISPRS 2D semantic labelling, Potsdam), anywhere under RAW_DIR, as
the zip files or the folders they were extracted to (searched recursively;
archives are read in place, nothing is extracted)::

    RAW_DIR/2_Ortho_RGB.zip       2_Ortho_RGB/top_potsdam_2_10_RGB.tif, ...
                                  (6000 x 6000 RGB, uint8)
    RAW_DIR/5_Labels_all.zip      top_potsdam_2_10_label.tif, ... (RGB-coded)
    (or, with --no-boundary, 5_Labels_all_noBoundary.zip with
     top_potsdam_2_10_label_noBoundary.tif, ...: the eroded labels)

Label colours -> class index: impervious surfaces (255,255,255) 0, building
(0,0,255) 1, low vegetation (0,255,255) 2, tree (0,255,0) 3, car
(255,255,0) 4; clutter / background (255,0,0) and the black boundary of the
eroded release -> 255 (the DWL protocol's 5 classes). Each channel is
binarised at 128 first; any other colour is an error naming the file.

The 38 labelled tiles are zero-padded to 6144 (label 255) and cut into 12 x 12
crops of 512: 5,472 crops, split 60/20/20 with seed 42 (3,283 / 1,094 /
1,095), with nested 1 / 5 / 10 % labeled lists of train (32 / 164 / 328).
Output (``--out``, default ``data/potsdam``)::

    img_dir/potsdam_<tile>_<row>_<col>.png    e.g. potsdam_2_10_0_0.png
    ann_dir/potsdam_<tile>_<row>_<col>.png    class index, 255 = ignore
    splits/train.txt val.txt test.txt
    splits/train_labeled_1pct.txt train_unlabeled_1pct.txt (5pct, 10pct)
    meta.json                                 arguments, counts, class pixels

Usage::

    python tools/dataset_converters/potsdam.py RAW_DIR [--out data/potsdam]
        [--crop 512] [--seed 42] [--ratios 1pct 5pct 10pct] [--no-boundary]
        [--allow-subset] [--force]
"""
from semiearth.datasets import PotsdamDWLDataset
from semiearth.datasets.converters import (base_parser, collect_pairs, colour_code, convert,
                                           decode_rgb_label, find_raw, isprs_colours, parse,
                                           run, tiles_by_id)

TILES = ('2_10 2_11 2_12 3_10 3_11 3_12 4_10 4_11 4_12 5_10 5_11 5_12 6_7 6_8 6_9 '
         '6_10 6_11 6_12 7_7 7_8 7_9 7_10 7_11 7_12 2_13 2_14 3_13 3_14 4_13 4_14 '
         '4_15 5_13 5_14 5_15 6_13 6_14 6_15 7_13').split()


def parse_args(argv=None):
    p = base_parser(__doc__, 'potsdam', ['1pct', '5pct', '10pct'])
    p.add_argument('--no-boundary', action='store_true',
                   help='read the eroded labels (*_label_noBoundary.tif) instead of '
                   'the full ones (*_label.tif)')
    return parse(p, argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    label_suffix = '_label_noBoundary' if args.no_boundary else '_label'
    image_re = r'top_potsdam_(\d+_\d+)_RGB\.tif'
    label_re = rf'top_potsdam_(\d+_\d+){label_suffix}\.tif'
    images = tiles_by_id(find_raw(args.src, image_re + '$'), image_re)
    labels = tiles_by_id(find_raw(args.src, label_re + '$'), label_re)
    names = dict(image='top_potsdam_{}_RGB.tif', label=f'top_potsdam_{{}}{label_suffix}.tif')
    tiles = collect_pairs(images, labels, 'Potsdam', args.allow_subset, expected=TILES,
                          describe=lambda kind, t: names[kind].format(t),
                          hint='Images are in 2_Ortho_RGB.zip, labels in '
                          f"5_Labels_all{'_noBoundary' if args.no_boundary else ''}.zip.")
    colours = isprs_colours(with_clutter=False)
    classes = PotsdamDWLDataset.METAINFO['classes']
    return convert(args, [(f'potsdam_{t}', img, lab) for t, img, lab in tiles],
                   lambda rgb, path: decode_rgb_label(rgb, colours, path),
                   classes, colour_code(colours))


if __name__ == '__main__':
    run(main, 'potsdam converter')
