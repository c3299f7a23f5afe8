"""Reseed the global generators before every training iteration."""
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ...utils.step_rng import seed_global, set_base_seed, step_seed


@HOOKS.register_module()
class StepRNGHook(Hook):
    """Make every global random draw of iteration ``t`` a function of the
    run's seed, the rank and ``t`` (``semiearth.utils.step_rng``).

    Before each training iteration torch (CPU and CUDA), numpy and ``random``
    are seeded from ``(seed, rank, t)``: dropout masks and any other draw from
    the global generators then do not depend on what ran before (validation,
    dataloader start-up), so a run resumed at ``t`` draws exactly what the
    uninterrupted run drew, without saving generator states. Together with
    :class:`SemiSampler`'s per-sample seeds and
    :class:`SkipAheadIterBasedTrainLoop` this gives a bit-exact resume.
    """
    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        # after a resume, which may have replaced runner.seed by the
        # checkpoint's seed
        set_base_seed(runner.seed, runner.message_hub)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        # the message hub's 'iter' is set by RuntimeInfoHook (VERY_HIGH as
        # well, registered first); use the runner's own count to be sure
        runner.message_hub.update_info('iter', runner.iter)
        seed_global(step_seed('global'))
