from .hooks import EMATeacherHook, PurifierClassCheckHook
from .runner import TeacherStudentValLoop

__all__ = ['EMATeacherHook', 'PurifierClassCheckHook', 'TeacherStudentValLoop']
