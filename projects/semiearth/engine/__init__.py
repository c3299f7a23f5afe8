from .hooks import ConfigCheckHook, EMATeacherHook, SafeCheckpointHook, StepRNGHook
from .runner import SkipAheadIterBasedTrainLoop, TeacherStudentValLoop

__all__ = ['EMATeacherHook', 'ConfigCheckHook', 'SafeCheckpointHook', 'StepRNGHook',
           'SkipAheadIterBasedTrainLoop', 'TeacherStudentValLoop']
