"""Convert LoveDA to SemiEarth's layout under the DWL protocol.

Download (Zenodo): ``Train.zip`` and ``Val.zip`` (``Train/Urban/images_png/
<id>.png``, ``.../masks_png/<id>.png``, the same for Rural and Val; 1024 x
1024), as zips or extracted, under RAW_DIR. Every tile is cut in four crops
of 512 (2,522 + 1,669 tiles -> 16,764 crops), split 60/20/20 with seed 42,
with nested 1 / 5 / 10 % labeled lists. Masks: 0 (no-data) -> 255, 1..7 ->
0..6. Crop names keep the domain (``urban_1366_0_0``): ids repeat across
Urban and Rural.

Usage::

    python tools/dataset_converters/loveda.py RAW_DIR [--out data/loveda]
"""
import os.path as osp

import _path  # noqa: F401
from semiearth.datasets import LoveDADWLDataset
from semiearth.datasets.converters import decode_index_label, find_raw
from semiearth.datasets.converters.cli import base_parser, convert, pair_tiles
from semiearth.datasets.converters.labels import IGNORE

# raw mask value -> class index
MAPPING = [IGNORE, 0, 1, 2, 3, 4, 5, 6]


def by_tile(paths, folder):
    """``{domain_id: path}`` of the files in ``<Domain>/<folder>/``."""
    out = {}
    for p in paths:
        parent = osp.dirname(p)
        if osp.basename(parent) == folder:
            domain = osp.basename(osp.dirname(parent)).lower()
            out[f'{domain}_{osp.splitext(osp.basename(p))[0]}'] = p
    return out


def main(argv=None):
    args = base_parser(__doc__.split('\n\n')[0], 'loveda',
                       ['1pct', '5pct', '10pct']).parse_args(argv)
    found = find_raw(args.src, '*.png', osp.join(args.out, 'raw'))
    tiles = pair_tiles(by_tile(found, 'images_png'), by_tile(found, 'masks_png'), 'LoveDA')
    return convert(args, tiles, lambda raw, path: decode_index_label(raw, MAPPING, path),
                   len(LoveDADWLDataset.METAINFO['classes']))


if __name__ == '__main__':
    main()
