"""Stop at the first non-finite loss, rather than train to the end on NaN."""
import math
from typing import List, Optional

from mmengine.hooks import Hook
from mmseg.registry import HOOKS


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite."""


def _batch_files(data_batch) -> List[str]:
    """Image files of a batch (plain or multi-branch), for the message."""
    files: List[str] = []

    def walk(obj) -> None:
        if isinstance(obj, dict):
            for value in obj.values():
                walk(value)
        elif isinstance(obj, (list, tuple)):
            for value in obj:
                walk(value)
        elif hasattr(obj, 'metainfo'):
            path = obj.metainfo.get('img_path')
            if path and path not in files:
                files.append(path)
    walk(data_batch)
    return files


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` after the first iteration whose
    loss (any logged ``loss*`` value) is NaN or infinite, naming the
    iteration, the losses and the batch's image files.

    The logged losses are the ones the model returns (in SemiEarth's
    segmentor, already averaged over ranks), so every rank stops at the same
    iteration. Reading them costs one scalar per loss, which the logger reads
    every iteration anyway.
    """

    priority = 'HIGH'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        bad = {key: float(value) for key, value in (outputs or {}).items()
               if 'loss' in key and _is_number(value) and not math.isfinite(float(value))}
        if not bad:
            return
        files = _batch_files(data_batch)
        shown = ', '.join(files[:8]) + (f' and {len(files) - 8} more' if len(files) > 8 else '')
        raise NonFiniteLossError(
            f'iteration {runner.iter + 1}: non-finite loss '
            f'{", ".join(f"{k}={v}" for k, v in bad.items())}; training stopped (the '
            f'checkpoints before it are untouched). Batch: {shown or "(no file names)"}. Fix: '
            'check the data (python tools/check_dataset.py CONFIG finds NaN pixels and '
            'broken files), or lower the learning rate.')


def _is_number(value) -> bool:
    if hasattr(value, 'numel'):
        return value.numel() == 1
    return isinstance(value, (int, float))
