"""Convert ISPRS Potsdam to SemiEarth's layout under the DWL protocol.

Download (ISPRS): ``2_Ortho_RGB.zip`` (``top_potsdam_2_10_RGB.tif``, 6000 x
6000) and ``5_Labels_all.zip`` (``top_potsdam_2_10_label.tif``, RGB-coded), as
zips or extracted, anywhere under RAW_DIR. The 38 labelled tiles become 12 x 12
crops of 512 each (5,472; zero-padded at the edges, label 255), split 60/20/20
with seed 42, with nested 1 / 5 / 10 % labeled lists. Clutter (red) and the
black boundary of the eroded release are ignore (255).

Usage::

    python tools/dataset_converters/potsdam.py RAW_DIR [--out data/potsdam]
"""
import os.path as osp
import re

import _path  # noqa: F401
from semiearth.datasets import PotsdamDWLDataset
from semiearth.datasets.converters import decode_rgb_label, find_raw
from semiearth.datasets.converters.cli import base_parser, check_complete, convert, pair_tiles
from semiearth.datasets.converters.labels import IGNORE

TILES = ('2_10 2_11 2_12 3_10 3_11 3_12 4_10 4_11 4_12 5_10 5_11 5_12 6_7 6_8 6_9 '
         '6_10 6_11 6_12 7_7 7_8 7_9 7_10 7_11 7_12 2_13 2_14 3_13 3_14 4_13 4_14 '
         '4_15 5_13 5_14 5_15 6_13 6_14 6_15 7_13').split()
CLUTTER, BOUNDARY = (255, 0, 0), (0, 0, 0)


def isprs_colours(palette, clutter_index=IGNORE):
    """ISPRS colour -> index: the classes' palette, clutter, black boundary."""
    colours = {tuple(c): i for i, c in enumerate(palette)}
    colours.setdefault(CLUTTER, clutter_index)
    colours[BOUNDARY] = IGNORE
    return colours


def tiles_by_id(paths, pattern):
    """``{id: path}`` of the files whose name matches ``pattern`` (group 1: id)."""
    return {m.group(1): p for p in paths
            for m in [re.fullmatch(pattern, osp.basename(p))] if m}


def main(argv=None):
    args = base_parser(__doc__.split('\n\n')[0], 'potsdam',
                       ['1pct', '5pct', '10pct']).parse_args(argv)
    raw = osp.join(args.out, 'raw')
    images = tiles_by_id(find_raw(args.src, 'top_potsdam_*_RGB.tif', raw),
                         r'top_potsdam_(\d+_\d+)_RGB\.tif')
    labels = tiles_by_id(find_raw(args.src, 'top_potsdam_*_label.tif', raw),
                         r'top_potsdam_(\d+_\d+)_label\.tif')
    check_complete(labels, TILES, 'labelled Potsdam tiles (top_potsdam_*_label.tif)',
                   args.allow_subset)
    images = {t: p for t, p in images.items() if t in labels or t not in TILES}
    tiles = pair_tiles(images, labels, 'Potsdam')
    colours = isprs_colours(PotsdamDWLDataset.METAINFO['palette'])
    return convert(args, [(f'potsdam_{t}', i, lab) for t, i, lab in tiles],
                   lambda rgb, path: decode_rgb_label(rgb, colours, path),
                   len(PotsdamDWLDataset.METAINFO['classes']))


if __name__ == '__main__':
    main()
