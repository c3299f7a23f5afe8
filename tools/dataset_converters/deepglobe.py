"""Convert DeepGlobe Land Cover to SemiEarth's layout under the DWL protocol.

Download (the Kaggle "DeepGlobe Land Cover Classification Dataset", or the
challenge's ``land-train``), under RAW_DIR, as the zip file or the folder it
was extracted to (searched recursively; archives are read in place)::

    RAW_DIR/.../train/<id>_sat.jpg    2448 x 2448 RGB, 803 images
    RAW_DIR/.../train/<id>_mask.png   RGB-coded label
    (valid/ and test/ have no masks and are not read)

Mask colours -> class index: urban (0,255,255) 0, agriculture (255,255,0) 1,
rangeland (255,0,255) 2, forest (0,255,0) 3, water (0,0,255) 4, barren
(255,255,255) 5, unknown (0,0,0) -> 255. The released masks are not exactly
pure colours (the release notes ask to binarise them at 128), so each channel
is binarised at 128 before the lookup; a colour outside the table after that
is an error naming the file. Each image is zero-padded to 2560 (label 255)
and cut into 5 x 5 crops of 512: 20,075 crops, split 60/20/20 with seed 42,
with nested 1 / 5 / 10 % labeled lists of train. Output (``--out``, default
``data/deepglobe``)::

    img_dir/deepglobe_<id>_<row>_<col>.png    e.g. deepglobe_100694_0_0.png
    ann_dir/deepglobe_<id>_<row>_<col>.png    class index, 255 = ignore
    splits/train.txt val.txt test.txt
    splits/train_labeled_1pct.txt train_unlabeled_1pct.txt (5pct, 10pct)
    meta.json

Usage::

    python tools/dataset_converters/deepglobe.py RAW_DIR [--out data/deepglobe]
        [--crop 512] [--seed 42] [--ratios 1pct 5pct 10pct]
        [--allow-subset] [--force]
"""
import os.path as osp

from semiearth.datasets import DeepGlobeLandCoverDataset
from semiearth.datasets.converters import (IGNORE, base_parser, check_count, collect_pairs,
                                           colour_code, convert, decode_rgb_label, find_raw,
                                           parse, run, tiles_by_id)

N_IMAGES = 803
UNKNOWN = (0, 0, 0)


def main(argv=None) -> dict:
    args = parse(base_parser(__doc__, 'deepglobe',
                             ['1pct', '5pct', '10pct']), argv)
    mask_paths = find_raw(args.src, r'(^|/)\d+_mask\.png$')
    labels = tiles_by_id(mask_paths, r'(\d+)_mask\.png')
    check_count(len(labels), N_IMAGES, 'DeepGlobe training masks (<id>_mask.png)',
                args.allow_subset)
    # images next to masks only: valid/ and test/ hold images without masks
    folders = {osp.dirname(p) for p in mask_paths}
    images = tiles_by_id(find_raw(args.src, lambda p: p.endswith('_sat.jpg')
                                  and osp.dirname(p) in folders), r'(\d+)_sat\.jpg')
    suffix = dict(image='sat.jpg', label='mask.png')
    tiles = collect_pairs(images, labels, 'DeepGlobe', args.allow_subset,
                          describe=lambda kind, t: f'{t}_{suffix[kind]}')
    meta = DeepGlobeLandCoverDataset.METAINFO
    colours = {tuple(c): i for i, c in enumerate(meta['palette'])}
    colours[UNKNOWN] = IGNORE
    return convert(args, [(f'deepglobe_{t}', img, lab) for t, img, lab in tiles],
                   lambda rgb, path: decode_rgb_label(rgb, colours, path),
                   meta['classes'], colour_code(colours))


if __name__ == '__main__':
    run(main, 'deepglobe converter')
