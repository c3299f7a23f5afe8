"""EMA teacher update for teacher-student segmentors."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ...utils import unwrap_model


@HOOKS.register_module()
class EMATeacherHook(Hook):
    """After each optimiser step: ``teacher = d * teacher + (1 - d) * student``.

    ``d`` is the EMA decay, the teacher's own weight (timm's ``ModelEma``
    ``decay``). It is either fixed (``decay``) or, by default, UniMatch-V2's
    schedule ``d_t = min(1 - 1 / (t + 1), max_decay)`` with ``t`` the
    0-based iteration: ``d_0 = 0`` copies the student, then the teacher
    averages over a growing window capped by ``max_decay``. Floating-point
    buffers (BN running mean / var) are averaged the same way unless
    ``update_buffers=False`` (then the teacher keeps its own); integer
    buffers (``num_batches_tracked``) are copied. The teacher's parameters
    never require gradients, so the optimiser and DDP never touch them.

    Not mmdet's ``MeanTeacherHook(momentum=...)``: there ``momentum`` is the
    student's weight (0.001 means a slow teacher), the opposite sense, so
    this hook refuses ``momentum`` rather than guess (``decay = 1 -
    momentum``).

    Args:
        decay: fixed teacher weight in [0, 1), or None for the schedule.
        max_decay: cap of the schedule, in [0, 1) (UniMatch-V2: 0.996).
        interval: update every ``interval`` iterations.
        update_buffers: also average floating-point buffers.
    """
    priority = 'NORMAL'

    def __init__(self, decay: Optional[float] = None, max_decay: float = 0.996,
                 interval: int = 1, update_buffers: bool = True, **renamed) -> None:
        if renamed:
            hint = {'momentum': 'decay = 1 - momentum', 'max_momentum': 'max_decay'}
            raise TypeError(
                f'EMATeacherHook has no {sorted(renamed)}: it takes the teacher\'s weight '
                f'`decay` (fixed) or `max_decay` (cap of the schedule); mmdet\'s '
                f'MeanTeacherHook `momentum` is the student\'s weight. Use '
                + '; '.join(hint.get(k, f'no {k}') for k in sorted(renamed)) + '.')
        for name, d in (('decay', decay), ('max_decay', max_decay)):
            if d is not None and not 0 <= d < 1:
                raise ValueError(f'EMATeacherHook {name} (the teacher\'s weight) must be '
                                 f'in [0, 1), got {d}')
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.decay = decay
        self.max_decay = max_decay
        self.interval = interval
        self.update_buffers = update_buffers

    def decay_at(self, it: int) -> float:
        """Teacher weight used after (0-based) iteration ``it``."""
        if self.decay is not None:
            return self.decay
        return min(1 - 1 / (it + 1), self.max_decay)

    def before_train(self, runner) -> None:
        model = unwrap_model(runner.model)
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
        model = unwrap_model(runner.model)
        self.ema_update(model.teacher, model.student, self.decay_at(runner.iter))

    @torch.no_grad()
    def ema_update(self, teacher: nn.Module, student: nn.Module, d: float) -> None:
        for t, s in zip(teacher.parameters(), student.parameters()):
            t.mul_(d).add_(s.detach(), alpha=1 - d)
        for t, s in zip(teacher.buffers(), student.buffers()):
            if not t.dtype.is_floating_point:
                t.copy_(s)
            elif self.update_buffers:
                t.mul_(d).add_(s.detach(), alpha=1 - d)
