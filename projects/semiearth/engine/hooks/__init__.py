from .ema_teacher_hook import EMATeacherHook
from .config_check_hook import ConfigCheckHook

__all__ = ['EMATeacherHook', 'ConfigCheckHook']
