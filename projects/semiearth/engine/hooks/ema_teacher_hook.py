"""EMA teacher update for teacher-student segmentors."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


@HOOKS.register_module()
class EMATeacherHook(Hook):
    """After each optimiser step: ``teacher = m * teacher + (1 - m) * student``.

    The momentum is either fixed (``momentum``, mmdet MeanTeacherHook style)
    or, by default, UniMatch-V2's schedule ``m_t = min(1 - 1 / (t + 1),
    max_momentum)`` with ``t`` the 0-based iteration: ``m_0 = 0`` copies the
    student, then the teacher averages over a growing window capped by
    ``max_momentum``. Floating-point buffers (BN running mean / var) are
    averaged the same way unless ``update_buffers=False`` (then the teacher
    keeps its own); integer buffers (``num_batches_tracked``) are copied. The
    teacher's parameters never require gradients, so the optimiser and DDP
    never touch them.

    Args:
        momentum: fixed momentum in [0, 1), or None for the schedule.
        max_momentum: cap of the schedule.
        interval: update every ``interval`` iterations.
        update_buffers: also average floating-point buffers.
    """
    priority = 'NORMAL'

    def __init__(self, momentum: Optional[float] = None, max_momentum: float = 0.996,
                 interval: int = 1, update_buffers: bool = True) -> None:
        for name, m in (('momentum', momentum), ('max_momentum', max_momentum)):
            if m is not None and not 0 <= m < 1:
                raise ValueError(f'{name} must be in [0, 1), got {m}')
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.momentum = momentum
        self.max_momentum = max_momentum
        self.interval = interval
        self.update_buffers = update_buffers

    def momentum_at(self, it: int) -> float:
        """Momentum used after (0-based) iteration ``it``."""
        if self.momentum is not None:
            return self.momentum
        return min(1 - 1 / (it + 1), self.max_momentum)

    @staticmethod
    def _unwrap(runner) -> nn.Module:
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        model = self._unwrap(runner)
        for name in ('teacher', 'student'):
            if not isinstance(getattr(model, name, None), nn.Module):
                raise TypeError(f'EMATeacherHook needs a model with a `{name}` '
                                f'module (e.g. SemiEarthSegmentor), got '
                                f'{type(model).__name__}.')
        if any(p.requires_grad for p in model.teacher.parameters()):
            raise RuntimeError('the teacher must not require gradients')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if (runner.iter + 1) % self.interval:
            return
        model = self._unwrap(runner)
        self.ema_update(model.teacher, model.student, self.momentum_at(runner.iter))

    @torch.no_grad()
    def ema_update(self, teacher: nn.Module, student: nn.Module, m: float) -> None:
        for t, s in zip(teacher.parameters(), student.parameters()):
            t.mul_(m).add_(s.detach(), alpha=1 - m)
        for t, s in zip(teacher.buffers(), student.buffers()):
            if not t.dtype.is_floating_point:
                t.copy_(s)
            elif self.update_buffers:
                t.mul_(m).add_(s.detach(), alpha=1 - m)
