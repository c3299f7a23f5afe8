"""DWL's classifier merge on the iteration-based runner."""
import math
from typing import Optional

from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ...models.heads import dual_classifiers, merge_pseudo_classifiers
from ...samplers import SemiSampler
from ...utils import unwrap_model


@HOOKS.register_module()
class ClassifierMergeHook(Hook):
    """Every ``interval`` iterations: main classifier := ``alpha`` * pseudo +
    (1 - ``alpha``) * main, in every pseudo-label classifier of the model
    (student and EMA teacher alike; see ``attach_pseudo_classifier``).

    DWL (zhu-xlab/RS-DWL ``train.py`` l.246-258) merges once per epoch, an
    epoch being one pass over the unlabeled set (``len(unl_loader)``, last
    batch kept). ``SemiSampler`` has no epochs, so by default ``interval`` is
    that pass in iterations: ``ceil(unlabeled set size / (unlabeled samples
    per GPU batch x world size))``, read from the train dataloader's
    ``SemiSampler`` when training starts. The merge runs after the
    iteration's optimiser step and EMA update, before validation and the
    checkpoint of that iteration, so the model validated and saved is the
    merged one (the anchor validates and saves before its merge); a resumed
    run merges at the same iterations, as the hook keeps no state.

    Args:
        alpha: weight of the pseudo classifier. The anchor uses 0.5 for
            DeepLabV3+ (and HRNet, EfficientUNet); for SegFormer it takes
            ``--alpha``, whose default is 1 (a full replacement).
        interval: iterations between merges; None: one pass over the
            unlabeled set, as above.
    """
    priority = 'BELOW_NORMAL'  # after EMATeacherHook, before checkpointing

    def __init__(self, alpha: float = 0.5, interval: Optional[int] = None) -> None:
        if not 0 <= alpha <= 1:
            raise ValueError(f'ClassifierMergeHook alpha must be in [0, 1], got {alpha}')
        if interval is not None and interval < 1:
            raise ValueError(f'ClassifierMergeHook interval must be >= 1 or None, got {interval}')
        self.alpha = alpha
        self.interval = interval
        self._interval = interval

    @staticmethod
    def pass_length(sampler) -> int:
        """Iterations of one pass over the unlabeled set of a
        :class:`SemiSampler` (all ranks together)."""
        if not isinstance(sampler, SemiSampler):
            raise TypeError(
                f'ClassifierMergeHook needs a SemiSampler to find one pass over the '
                f'unlabeled set, got {type(sampler).__name__}; set interval=N.')
        per_iter = sampler.num_unlabeled * sampler.world_size
        return max(1, math.ceil(sampler.sizes[1] / per_iter))

    def before_train(self, runner) -> None:
        if not any(True for _ in dual_classifiers(unwrap_model(runner.model))):
            raise TypeError('ClassifierMergeHook: the model has no pseudo classifier '
                            '(attach_pseudo_classifier); remove the hook or use DWL.')
        if self.interval is None:
            self._interval = self.pass_length(runner.train_dataloader.sampler)
        runner.logger.info(f'ClassifierMergeHook: merging with alpha={self.alpha} '
                           f'every {self._interval} iterations')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if (runner.iter + 1) % self._interval == 0:
            merge_pseudo_classifiers(unwrap_model(runner.model), self.alpha)
