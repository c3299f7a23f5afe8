"""Seeded train / val / test splits and nested labeled subsets."""
import os
import os.path as osp
import random
from fractions import Fraction
from typing import Dict, List, Sequence


def ratio_tag(ratio: str) -> str:
    """'1%' or '1pct' -> '1pct'; '1/8' -> '1of8' (split and config names)."""
    ratio = str(ratio).strip()
    if ratio.endswith('%') or ratio.endswith('pct'):
        return ratio.rstrip('%').replace('pct', '') + 'pct'
    f = Fraction(ratio)
    return f'{f.numerator}of{f.denominator}'


def ratio_value(ratio: str) -> Fraction:
    ratio = str(ratio).strip()
    if ratio.endswith('%') or ratio.endswith('pct'):
        return Fraction(ratio.rstrip('%').replace('pct', '')) / 100
    return Fraction(ratio)


def random_split(names: Sequence[str], seed: int,
                 train: float = 0.6, val: float = 0.2) -> Dict[str, List[str]]:
    """The DWL split: shuffle with ``seed``; train = floor(0.6 n), val =
    floor(0.2 n), test = the rest (Potsdam: 3,283 / 1,094 / 1,095)."""
    names = sorted(names)
    random.Random(seed).shuffle(names)
    n_train, n_val = int(len(names) * train), int(len(names) * val)
    return dict(train=names[:n_train], val=names[n_train:n_train + n_val],
                test=names[n_train + n_val:])


def nested_labeled(train: Sequence[str], ratios: Sequence[str],
                   seed: int) -> Dict[str, List[str]]:
    """Labeled / unlabeled lists per ratio: floor(ratio * n) labeled names
    taken from one seeded order of ``train``, so smaller sets are subsets of
    larger ones; unlabeled = the rest of train."""
    order = sorted(train)
    random.Random(seed + 1).shuffle(order)
    out = {}
    for ratio in ratios:
        n = int(ratio_value(ratio) * len(order))
        if n < 1:
            raise ValueError(f'labeled ratio {ratio} of {len(order)} training '
                             'crops is no crop at all.')
        labeled = set(order[:n])
        tag = ratio_tag(ratio)
        out[f'train_labeled_{tag}'] = sorted(labeled)
        out[f'train_unlabeled_{tag}'] = sorted(set(train) - labeled)
    return out


def write_splits(out_dir: str, splits: Dict[str, Sequence[str]]) -> None:
    os.makedirs(osp.join(out_dir, 'splits'), exist_ok=True)
    for name, items in splits.items():
        with open(osp.join(out_dir, 'splits', f'{name}.txt'), 'w') as f:
            f.write(''.join(f'{s}\n' for s in items))
