"""Convert DeepGlobe Land Cover to SemiEarth's layout under the DWL protocol.

Download (Kaggle, "DeepGlobe Land Cover Classification"): the ``train``
folder (``<id>_sat.jpg`` and ``<id>_mask.png``, 2448 x 2448, 803 images), as
a zip or extracted, under RAW_DIR. Each image becomes 5 x 5 crops of 512
(20,075; zero-padded, label 255), split 60/20/20 with seed 42, with nested
1 / 5 / 10 % labeled lists. Mask colours are binarised at 128 (the released
masks are not pure colours) and mapped to the 6 classes; "unknown" (black)
-> 255.

Usage::

    python tools/dataset_converters/deepglobe.py RAW_DIR [--out data/deepglobe]
"""
import os.path as osp

import _path  # noqa: F401
from potsdam import tiles_by_id
from semiearth.datasets import DeepGlobeLandCoverDataset
from semiearth.datasets.converters import decode_rgb_label, find_raw
from semiearth.datasets.converters.cli import base_parser, convert, pair_tiles
from semiearth.datasets.converters.labels import IGNORE

N_IMAGES = 803


def main(argv=None):
    args = base_parser(__doc__.split('\n\n')[0], 'deepglobe',
                       ['1pct', '5pct', '10pct']).parse_args(argv)
    raw = osp.join(args.out, 'raw')
    images = tiles_by_id(find_raw(args.src, '*_sat.jpg', raw), r'(\d+)_sat\.jpg')
    labels = tiles_by_id(find_raw(args.src, '*_mask.png', raw), r'(\d+)_mask\.png')
    if not args.allow_subset and len(labels) != N_IMAGES:
        raise FileNotFoundError(
            f"found {len(labels)} DeepGlobe training masks (*_mask.png) under "
            f"'{args.src}'; the release has {N_IMAGES}. Fix: complete the "
            'download (or pass --allow-subset to convert only what is there).')
    tiles = pair_tiles(images, labels, 'DeepGlobe')
    meta = DeepGlobeLandCoverDataset.METAINFO
    colours = {tuple(c): i for i, c in enumerate(meta['palette'])}
    colours[(0, 0, 0)] = IGNORE  # unknown
    return convert(args, [(f'deepglobe_{t}', i, lab) for t, i, lab in tiles],
                   lambda rgb, path: decode_rgb_label(rgb, colours, path),
                   len(meta['classes']))


if __name__ == '__main__':
    main()
