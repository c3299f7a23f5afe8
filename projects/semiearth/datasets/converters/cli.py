"""The command-line flow every benchmark converter shares."""
import argparse
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence

from .splits import nested_labeled, random_split, write_splits
from .tiling import Tile, convert_tiles, up_to_date


def base_parser(description: str, name: str, ratios: Sequence[str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument('src', help='the download: a folder (zips or extracted files) or a zip')
    p.add_argument('--out', default=f'data/{name}')
    p.add_argument('--crop', type=int, default=512, help='crop size (px)')
    p.add_argument('--seed', type=int, default=42,
                   help='split seed (42: the released SemiEarth splits)')
    p.add_argument('--ratios', nargs='+', default=list(ratios),
                   help='labeled ratios of train, nested (1pct or 1/8 forms)')
    p.add_argument('--allow-subset', action='store_true',
                   help='convert whatever tiles are there (default: all of the '
                   'release are required)')
    p.add_argument('--force', action='store_true', help='convert again')
    return p


def check_complete(found: Sequence[str], expected: Optional[Sequence[str]],
                   what: str, allow_subset: bool) -> None:
    """A partial download is an error naming what is missing."""
    if expected is None or allow_subset:
        return
    missing = sorted(set(expected) - set(found))
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} of the {len(expected)} {what} are missing: '
            f'{missing[:8]}{" ..." if len(missing) > 8 else ""}. Fix: complete the '
            'download (or pass --allow-subset to convert only what is there).')


def pair_tiles(images: Dict[str, str], labels: Dict[str, str], what: str) -> List[Tile]:
    """``[(tile, image, label)]`` from ``{tile: path}`` dicts; an image
    without its label (or the reverse) is an error naming the file."""
    for a, b, kind in ((images, labels, 'label'), (labels, images, 'image')):
        lonely = sorted(set(a) - set(b))
        if lonely:
            raise FileNotFoundError(
                f"{what}: no {kind} for '{a[lonely[0]]}' ({len(lonely)} such). "
                'Fix: complete the download.')
    if not images:
        raise FileNotFoundError(f'{what}: no tiles found. Fix: pass the folder '
                                'or zip of the download.')
    return [(t, images[t], labels[t]) for t in sorted(images)]


def convert(args, tiles: Sequence[Tile], decode: Callable, num_classes: int,
            make_splits: Optional[Callable[[List[str]], Dict[str, List[str]]]] = None) -> dict:
    """Crops, then splits (``make_splits(crops)`` or the seeded 60/20/20),
    nested labeled lists, and ``meta.json`` written last. A run whose
    arguments match a finished one says so and returns its meta."""
    record = dict(vars(args), src=osp.abspath(args.src))
    record.pop('force', None)
    if not args.force and up_to_date(args.out, record):
        print(f'{args.out} is up to date (meta.json records these arguments; '
              '--force converts again)')
        with open(osp.join(args.out, 'meta.json')) as f:
            return json.load(f)
    crops, pixels = convert_tiles(tiles, args.out, args.crop, decode, num_classes,
                                  force=args.force)
    splits = make_splits(crops) if make_splits else random_split(crops, args.seed)
    splits.update(nested_labeled(splits['train'], args.ratios, args.seed))
    write_splits(args.out, splits)
    meta = dict(args=record, tiles=len(tiles), crops=len(crops),
                split_sizes={k: len(v) for k, v in splits.items()}, class_pixels=pixels)
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(dict(out=args.out, crops=len(crops),
                          split_sizes=meta['split_sizes'])))
    return meta
