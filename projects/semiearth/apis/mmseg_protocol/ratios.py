"""The mmseg protocol's labeled ratios and the names of its split lists
(``tools/dataset_converters/mmseg_splits.py`` writes the lists)."""
from fractions import Fraction
from typing import Tuple

# the labeled ratios of img_dir/train (the usual S4 ratios of the
# natural-image benchmarks, which the zoo's RS datasets lacked)
PROTOCOL_RATIOS = ('1/16', '1/8', '1/4', '1/2')
# split lists live apart from the DWL converters' splits/*.txt: both layouts
# default to data/potsdam and data/vaihingen
SPLIT_DIR = 'splits/mmseg'


def protocol_ratio_tag(ratio: str) -> str:
    """'1/8' (or '1of8', '0.125') -> '1of8', the token of split-list and
    config names; any ratio outside :data:`PROTOCOL_RATIOS` is an error."""
    text = str(ratio).strip().replace('of', '/')
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        value = None
    allowed = {Fraction(r): r for r in PROTOCOL_RATIOS}
    if value not in allowed:
        raise ValueError(
            f"labeled ratio {ratio!r} is not one of the mmseg protocol's "
            f"{', '.join(PROTOCOL_RATIOS)} (of img_dir/train). Fix: pick one of them; "
            'for another labeled set, write its list (one image name a line, no '
            'suffix) and set ann_file of the labeled and unlabeled datasets by hand.')
    return f'{value.numerator}of{value.denominator}'


def split_files(tag: str) -> Tuple[str, str]:
    """(labeled, unlabeled) list of a ratio tag, relative to the data root."""
    return (f'{SPLIT_DIR}/train_labeled_{tag}.txt', f'{SPLIT_DIR}/train_unlabeled_{tag}.txt')
