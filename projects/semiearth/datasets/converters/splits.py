"""Seeded train / val / test splits, nested labeled subsets, split files."""
import os
import os.path as osp
import random
from fractions import Fraction
from typing import Dict, Iterable, List, Sequence

import mmengine

from ...utils.atomic import atomic_write_text


def ratio_value(ratio: str) -> Fraction:
    """'1pct' / '1%' -> 1/100; '1/8' or '0.125' -> 1/8; must lie in (0, 1)."""
    text = str(ratio).strip()
    try:
        if text.endswith('%') or text.endswith('pct'):
            value = Fraction(text.rstrip('%').replace('pct', '')) / 100
        else:
            value = Fraction(text)
    except ValueError:
        raise ValueError(f"labeled ratio {ratio!r} is neither a percent ('1pct', "
                         "'1%') nor a fraction ('1/8', '0.125')") from None
    if not 0 < value < 1:
        raise ValueError(f'labeled ratio {ratio!r} must lie strictly between 0 and 1')
    return value


def ratio_tag(ratio: str) -> str:
    """The token in split file and config names: '1pct' or '1%' -> '1pct';
    '1/8' -> '1of8'."""
    value, text = ratio_value(ratio), str(ratio).strip()
    if text.endswith('%') or text.endswith('pct'):
        return f'{text.rstrip("%").replace("pct", "")}pct'
    return f'{value.numerator}of{value.denominator}'


def random_split(names: Iterable[str], seed: int, train: float = 0.6,
                 val: float = 0.2) -> Dict[str, List[str]]:
    """The DWL split: sort, shuffle with ``seed``; train = floor(0.6 n), val =
    floor(0.2 n), test = the rest (Potsdam: 3,283 / 1,094 / 1,095). Each list
    is returned sorted."""
    names = sorted(names)
    random.Random(seed).shuffle(names)
    n = len(names)
    n_train = int(Fraction(str(train)) * n)
    n_val = int(Fraction(str(val)) * n)
    return dict(train=sorted(names[:n_train]),
                val=sorted(names[n_train:n_train + n_val]),
                test=sorted(names[n_train + n_val:]))


def nested_labeled(train: Sequence[str], ratios: Sequence[str],
                   seed: int) -> Dict[str, List[str]]:
    """``train_labeled_<tag>`` / ``train_unlabeled_<tag>`` per ratio.

    floor(ratio x n_train) labeled names (Potsdam: 32 / 164 / 328 of 3,283)
    are the first of one seeded order of ``train`` (seed + 1, so the order
    is not the train/val/test shuffle's), hence a smaller ratio's labeled set
    lies in every larger one's; unlabeled = the rest of train.
    """
    order = sorted(train)
    random.Random(seed + 1).shuffle(order)
    out = {}
    for ratio in ratios:
        n = int(ratio_value(ratio) * len(order))
        if n < 1:
            raise ValueError(f'labeled ratio {ratio} of {len(order)} training crops '
                             'is no crop at all. Fix: a larger ratio.')
        labeled = set(order[:n])
        tag = ratio_tag(ratio)
        out[f'train_labeled_{tag}'] = sorted(labeled)
        out[f'train_unlabeled_{tag}'] = sorted(set(train) - labeled)
    return out


def write_splits(out_dir: str, splits: Dict[str, Sequence[str]]) -> None:
    """``splits/<name>.txt`` per entry, one crop name a line."""
    os.makedirs(osp.join(out_dir, 'splits'), exist_ok=True)
    for name, items in splits.items():
        if not name or '/' in name or os.sep in name:
            raise ValueError(f'bad split name {name!r}: a file name without folders')
        atomic_write_text(osp.join(out_dir, 'splits', f'{name}.txt'),
                          ''.join(f'{s}\n' for s in items))


def parse_split_list(path: str) -> List[str]:
    """Crop names of a published split list: one entry a line, blank lines
    and ``#`` comments skipped; a line may be a plain name, a file name with
    suffix and folders, or UniMatch's ``images/x.png labels/x.png`` (the first
    token's stem counts). Repeated names are kept once."""
    if not osp.isfile(path):
        raise FileNotFoundError(f"split list '{path}' does not exist.")
    names, seen = [], set()
    for line in mmengine.list_from_file(path):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        stem = osp.splitext(line.split()[0].replace('\\', '/').rsplit('/', 1)[-1])[0]
        if stem and stem not in seen:
            seen.add(stem)
            names.append(stem)
    if not names:
        raise ValueError(f"split list '{path}' names no file.")
    return names
