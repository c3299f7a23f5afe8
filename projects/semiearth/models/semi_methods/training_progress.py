"""Where training stands, for methods whose step depends on it (DWL)."""
from typing import Tuple

from mmengine.logging import MessageHub


def training_progress() -> Tuple[int, int]:
    """``(iter, max_iters)``: the 0-based iteration being run and the
    schedule's length, as MMEngine's ``RuntimeInfoHook`` records them in the
    current :class:`MessageHub` (``before_train`` / ``before_train_iter``).

    Raises:
        RuntimeError: outside a Runner, when nobody recorded them.
    """
    hub = MessageHub.get_current_instance()
    iters, total = hub.get_info('iter'), hub.get_info('max_iters')
    if iters is None or total is None:
        raise RuntimeError(
            f'this method needs the training iteration and max_iters (got iter={iters}, '
            f'max_iters={total}): MMEngine\'s Runner records them (RuntimeInfoHook). Outside '
            'a Runner, set them with MessageHub.get_current_instance().update_info('
            '"iter", i) and update_info("max_iters", n).')
    return int(iters), int(total)
