"""Convert LoveDA to SemiEarth's layout under the DWL protocol.

Download (Zenodo), under RAW_DIR, as the zip files or the folders they were
extracted to (searched recursively; archives are read in place, nothing is
extracted)::

    RAW_DIR/Train.zip   Train/Urban/images_png/<id>.png   1024 x 1024 RGB
                        Train/Urban/masks_png/<id>.png    0 no-data, 1..7 classes
                        Train/Rural/images_png/ ... masks_png/ ...
    RAW_DIR/Val.zip     Val/Urban/..., Val/Rural/... the same
    (Test.zip, which has no masks, is not read)

Masks: 0 (no-data) -> 255; 1..7 (background, building, road, water, barren,
forest, agriculture) -> 0..6; any other value is an error naming the file.
Every Train and Val tile (2,522 + 1,669) is cut into 2 x 2 crops of 512:
16,764 crops, split 60/20/20 with seed 42, with nested 1 / 5 / 10 % labeled
lists of train. Crop names keep the domain, as tile ids are per domain.
Output (``--out``, default ``data/loveda``)::

    img_dir/<urban|rural>_<id>_<row>_<col>.png   e.g. urban_1366_0_0.png
    ann_dir/<urban|rural>_<id>_<row>_<col>.png   class index, 255 = ignore
    splits/train.txt val.txt test.txt
    splits/train_labeled_1pct.txt train_unlabeled_1pct.txt (5pct, 10pct)
    meta.json

Usage::

    python tools/dataset_converters/loveda.py RAW_DIR [--out data/loveda]
        [--crop 512] [--seed 42] [--ratios 1pct 5pct 10pct]
        [--allow-subset] [--force]
"""
import re

from semiearth.datasets import LoveDADWLDataset
from semiearth.datasets.converters import (IGNORE, base_parser, check_count, collect_pairs,
                                           convert, decode_index_label, find_raw, index_code,
                                           parse, run, tiles_by_id)

RELEASE = {'train': 2522, 'val': 1669}  # tiles per split folder, urban + rural
MAPPING = [IGNORE, 0, 1, 2, 3, 4, 5, 6]  # raw mask value -> class index


def _find(src, folder):
    """``{<domain>_<id>: path}`` of Train/Val ``<Domain>/<folder>/<id>.png``."""
    found = find_raw(src, rf'(?i)(^|/)(train|val)/(urban|rural)/{folder}/\d+\.png$')

    def key(m, path):
        return f"{path.replace(chr(92), '/').split('/')[-3].lower()}_{m.group(1)}"
    return found, tiles_by_id(found, r'(\d+)\.png', key=key)


def main(argv=None) -> dict:
    args = parse(base_parser(__doc__, 'loveda', ['1pct', '5pct', '10pct']),
                 argv)
    found, images = _find(args.src, 'images_png')
    _, labels = _find(args.src, 'masks_png')
    split_of = {}
    for path in found:
        m = re.search(r'(?i)(train|val)/(urban|rural)/images_png/(\d+)\.png$',
                      path.replace('\\', '/'))
        split_of.setdefault(f'{m.group(2).lower()}_{m.group(3)}', m.group(1).lower())
    for split, n in RELEASE.items():
        check_count(sum(s == split for s in split_of.values()), n,
                    f'LoveDA {split.capitalize()} images (<Domain>/images_png/*.png)',
                    args.allow_subset)
    tiles = collect_pairs(images, labels, 'LoveDA', args.allow_subset,
                          describe=lambda kind, t: '{}/{}/{}.png'.format(
                              t.split('_')[0].capitalize(),
                              'images_png' if kind == 'image' else 'masks_png',
                              t.split('_')[1]))
    return convert(args, tiles, lambda raw, path: decode_index_label(raw, MAPPING, path),
                   LoveDADWLDataset.METAINFO['classes'], index_code(MAPPING))


if __name__ == '__main__':
    run(main, 'loveda converter')
