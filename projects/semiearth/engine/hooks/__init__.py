from .ema_teacher_hook import EMATeacherHook
from .purifier_class_check_hook import PurifierClassCheckHook

__all__ = ['EMATeacherHook', 'PurifierClassCheckHook']
