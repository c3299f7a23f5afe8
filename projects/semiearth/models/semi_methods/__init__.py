from .base_semi_method import BaseSemiMethod
from .fixmatch import FixMatch
from .unimatch import UniMatch
from .unimatch_v2 import UniMatchV2

__all__ = ['BaseSemiMethod', 'FixMatch', 'UniMatchV2', 'UniMatch']
