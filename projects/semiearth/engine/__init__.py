from .hooks import (ConfigCheckHook, EMATeacherHook, SafeCheckpointHook, StepRNGHook,
                    VLMEvidenceHook)
from .optimizers import StudentOptimWrapperConstructor
from .runner import SkipAheadIterBasedTrainLoop, TeacherStudentValLoop

__all__ = ['EMATeacherHook', 'ConfigCheckHook', 'SafeCheckpointHook', 'StepRNGHook',
           'VLMEvidenceHook', 'SkipAheadIterBasedTrainLoop', 'TeacherStudentValLoop',
           'StudentOptimWrapperConstructor']
