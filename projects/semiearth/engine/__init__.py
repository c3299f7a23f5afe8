from .hooks import EMATeacherHook, ConfigCheckHook
from .runner import SkipAheadIterBasedTrainLoop, TeacherStudentValLoop

__all__ = ['EMATeacherHook', 'ConfigCheckHook', 'SkipAheadIterBasedTrainLoop',
           'TeacherStudentValLoop']
