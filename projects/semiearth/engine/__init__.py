from .hooks import EMATeacherHook, ConfigCheckHook
from .runner import TeacherStudentValLoop

__all__ = ['EMATeacherHook', 'ConfigCheckHook', 'TeacherStudentValLoop']
