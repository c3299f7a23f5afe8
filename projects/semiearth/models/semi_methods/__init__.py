from .base_semi_method import BaseSemiMethod
from .dwl import DWL
from .fixmatch import FixMatch
from .mean_teacher import MeanTeacher
from .training_progress import training_progress
from .unimatch import UniMatch
from .unimatch_v2 import UniMatchV2

__all__ = ['BaseSemiMethod', 'FixMatch', 'UniMatchV2', 'UniMatch', 'DWL', 'MeanTeacher',
           'training_progress']
