from .hooks import EMATeacherHook
from .runner import TeacherStudentValLoop

__all__ = ['EMATeacherHook', 'TeacherStudentValLoop']
