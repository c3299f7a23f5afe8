"""Iteration-based training whose resume moves the sampler instead of
loading the finished batches."""
import logging
from typing import Iterator

from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop
from mmseg.registry import LOOPS


class _Skipped:
    """Iterator whose first ``n`` items are ``None`` (nothing is loaded),
    then those of ``iterator``."""

    def __init__(self, iterator: Iterator, n: int) -> None:
        self.iterator = iterator
        self.n = n

    def __iter__(self) -> '_Skipped':
        return self

    def __next__(self):
        if self.n > 0:
            self.n -= 1
            return None
        return next(self.iterator)


@LOOPS.register_module()
class SkipAheadIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` that resumes without reloading the past.

    MMEngine resumes iteration ``t`` by loading, augmenting and discarding the
    ``t`` finished batches so that the sampler's stream goes on where it
    stopped; at 518 px crops with strong views that keeps every GPU idle for
    minutes. When the train sampler has ``skip_batches(t)``
    (:class:`SemiSampler`), this loop starts the sampler at batch ``t``
    instead: the following batches hold the same sample indices as in the
    uninterrupted run, and nothing already trained is read again. Each
    sample's augmentations are seeded by its position in the stream and the
    global generators by the iteration (``semiearth.utils.step_rng``,
    :class:`StepRNGHook`), so the resumed run is bit-identical to the
    uninterrupted one. Other samplers: MMEngine's behaviour.

    A run resumed after its last iteration (killed after the final
    checkpoint, before or during the final validation) runs the final
    validation it owes, and with it the best-checkpoint rule: MMEngine's loop
    would end at once, without it. (Whether that validation had finished is
    not recorded in the checkpoint, which is written before it; at worst it
    runs twice.)
    """

    def run(self):
        if self._iter >= self._max_iters > 0 and self._owes_final_validation():
            return self._final_validation()
        return self._run_skipping()

    def _owes_final_validation(self) -> bool:
        self._decide_current_val_interval()
        return self.runner.val_loop is not None and self._iter >= self.val_begin

    def _final_validation(self):
        print_log(f'Resumed after the last iteration ({self._iter}): running the final '
                  'validation it owes.', logger='current', level=logging.WARNING)
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model

    def _run_skipping(self):
        sampler = getattr(self.dataloader, 'sampler', None)
        if self._iter > 0 and hasattr(sampler, 'skip_batches'):
            sampler.skip_batches(self._iter)
            print_log(f'Resuming at iteration {self._iter}: {type(sampler).__name__} '
                      f'starts at batch {self._iter}; no finished batch is loaded '
                      '(the dataloader advance logged next skips placeholders).',
                      logger='current', level=logging.INFO)
            # a new iterator draws from the moved sampler (a persistent-worker
            # loader drops what it prefetched); the base loop's advance over
            # the finished iterations then gets placeholders
            fresh = type(self.dataloader_iterator)(self.dataloader)
            self.dataloader_iterator = _Skipped(fresh, self._iter)
        return super().run()
