"""The command-line flow every benchmark converter shares: arguments,
pairing images with labels (with errors naming what is missing), the
convert-once driver writing crops, splits and ``meta.json``."""
import argparse
import json
import os
import os.path as osp
import re
import sys
from typing import Callable, Dict, List, Optional, Sequence

from ...utils.atomic import atomic_write_text
from .splits import nested_labeled, random_split, ratio_value, write_splits
from .tiling import Tile, class_pixels, convert_tiles

FORMAT = 2  # bump when the same arguments would give other output
SUBSET_FIX = ('Fix: complete the download, or pass --allow-subset to convert '
              'only the complete pairs that are there.')


def base_parser(doc: str, name: str, ratios: Sequence[str]) -> argparse.ArgumentParser:
    """Arguments every converter takes; ``--out`` defaults to ``data/<name>``.
    ``doc`` (the converter's module docstring) gives the description, its
    first paragraph, and the text after ``--help``'s options, the rest."""
    head, _, rest = doc.strip().partition('\n\n')
    p = argparse.ArgumentParser(description=head, epilog=rest.replace('``', ''),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('src', help='the download: a folder holding the zips and/or the '
                   'extracted files (searched recursively), or one zip')
    p.add_argument('--out', default=f'data/{name}', help='output folder (default: %(default)s)')
    p.add_argument('--crop', type=int, default=512, help='crop size in px (default: 512)')
    p.add_argument('--seed', type=int, default=42,
                   help='split seed (default 42, as the released SemiEarth splits)')
    p.add_argument('--ratios', nargs='+', default=list(ratios),
                   help='labeled ratios of train, nested; 1pct / 1%% or 1/8 forms '
                   '(default: %(default)s)')
    p.add_argument('--allow-subset', action='store_true',
                   help='convert the complete image/label pairs found, even if the '
                   'release is not all there (default: a partial download is an error)')
    p.add_argument('--force', action='store_true',
                   help='convert again even if the output is up to date')
    return p


def parse(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if args.crop < 1:
        parser.error(f'--crop must be positive, got {args.crop}')
    for r in args.ratios:
        try:
            ratio_value(r)
        except ValueError as e:
            parser.error(str(e))
    return args


def _natural(s: str):
    return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', s)]


def _few(items: Sequence[str], n: int = 8) -> str:
    return ', '.join(items[:n]) + (f', ... ({len(items)} in all)' if len(items) > n else '')


def collect_pairs(images: Dict[str, str], labels: Dict[str, str], what: str,
                  allow_subset: bool, expected: Optional[Sequence[str]] = None,
                  describe: Callable[[str, str], str] = lambda kind, t: t,
                  hint: str = '') -> List[Tile]:
    """``[(id, image, label)]`` sorted by id, from ``{id: path}`` dicts.

    Without ``allow_subset`` every id of ``expected`` (or, without it, every
    id found) must have both an image and a label, otherwise
    ``FileNotFoundError`` names the missing files (``describe(kind, id)``
    gives a file name, ``hint`` says where such files come from). With it,
    incomplete pairs are skipped with a warning. Ids outside ``expected``
    are ignored with a note.
    """
    found = set(images) | set(labels)
    wanted = set(expected) if expected is not None else found
    extra = sorted(found - wanted, key=_natural)
    if extra:
        print(f'note: {what}: ignoring {len(extra)} files of tiles outside the '
              f'release list: {_few(extra)}')
    problems = []
    for kind, have, other in (('image', images, labels), ('label', labels, images)):
        missing = sorted(wanted - set(have), key=_natural)
        if missing:
            first = missing[0]
            seen = f" (its {'label' if kind == 'image' else 'image'} is '{other[first]}')" \
                if first in other else ''
            problems.append(f'{len(missing)} of the {len(wanted)} {kind}s are missing: '
                            f'{_few([describe(kind, t) for t in missing])}{seen}')
    if problems and not allow_subset:
        raise FileNotFoundError(f'{what}: ' + '; '.join(problems) + '. '
                                + (hint + ' ' if hint else '') + SUBSET_FIX)
    if problems:
        print(f'warning: {what}: ' + '; '.join(problems) + '. Converting the complete '
              'pairs only (--allow-subset).')
    pairs = sorted(set(images) & set(labels) & wanted, key=_natural)
    if not pairs:
        raise FileNotFoundError(f'{what}: no image/label pair found. Fix: pass the folder '
                                '(or zip) of the download; see the converter\'s --help '
                                'for the file names it looks for.')
    return [(t, images[t], labels[t]) for t in pairs]


def check_count(found: int, expected: int, what: str, allow_subset: bool) -> None:
    """A release whose tile count is known but not its ids: a different
    count is an error unless ``allow_subset``."""
    if found != expected and not allow_subset:
        raise FileNotFoundError(f'found {found} {what}; the release has {expected}. '
                                + SUBSET_FIX)


def _load(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def convert(args: argparse.Namespace, tiles: Sequence[Tile], decode: Callable,
            classes: Sequence[str], label_code: dict,
            make_splits: Optional[Callable[[Dict[str, List[str]]],
                                           Dict[str, List[str]]]] = None) -> dict:
    """Crops, then splits (``make_splits({tile: crops})``, default the seeded
    60/20/20 of all crops), the nested labeled lists of train, and
    ``meta.json``, written last. A run whose arguments match the finished
    run recorded in ``meta.json`` says 'up to date' and returns that record;
    ``args.force`` converts again."""
    record = dict(vars(args), src=osp.abspath(args.src), format=FORMAT)
    record.pop('force', None)
    record = json.loads(json.dumps(record))  # as it reads back from meta.json
    meta_path = osp.join(args.out, 'meta.json')
    old = _load(meta_path)
    if old and not args.force and old.get('args') == record and all(
            osp.isfile(osp.join(args.out, 'splits', f'{s}.txt'))
            for s in old.get('split_sizes', {})):
        print(f"{args.out} is up to date (meta.json records a finished run with "
              'these arguments); pass --force to convert again.')
        return old
    if osp.exists(meta_path):
        os.remove(meta_path)  # until this run has finished
    crops_of, pixels = convert_tiles(tiles, args.out, args.crop, decode, len(classes),
                                     label_code=label_code, force=args.force)
    crops = [c for t, _, _ in tiles for c in crops_of[t]]
    splits = make_splits(crops_of) if make_splits else random_split(crops, args.seed)
    splits.update(nested_labeled(splits['train'], args.ratios, args.seed))
    for name in (old or {}).get('split_sizes', {}):  # lists of an older run only
        stale = osp.join(args.out, 'splits', f'{name}.txt')
        if name not in splits and osp.isfile(stale):
            os.remove(stale)
    write_splits(args.out, splits)
    meta = dict(
        args=record, classes=list(classes), label_code=label_code,
        tiles=len(tiles), crops=len(crops),
        split_sizes={k: len(v) for k, v in splits.items()},
        class_pixels={k: class_pixels(v, pixels, classes) for k, v in splits.items()})
    atomic_write_text(meta_path, json.dumps(meta, indent=1))
    print(f'{len(tiles)} tiles -> {len(crops)} crops in {args.out}: '
          + ', '.join(f'{k} {len(v)}' for k, v in splits.items()))
    return meta


def run(main: Callable[[], object], name: str) -> None:
    """Call a converter's ``main`` as a command: its errors (which name the
    file and the fix) end the program with that message, not a traceback."""
    try:
        main()
    except (OSError, ValueError) as e:
        sys.exit(f'{name}: error: {e}')
