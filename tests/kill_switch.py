"""A test-only hook that kills its own training process with SIGKILL, as a
crash or an out-of-memory kill would (imported by configs that the crash
tests write; not part of the package)."""
import os
import signal

from mmengine.hooks import Hook
from mmseg.registry import HOOKS


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class KillSwitchHook(Hook):
    """SIGKILL after training iteration ``at`` (1-based), or, with
    ``mid_write=True``, halfway through writing the checkpoint of iteration
    ``at`` (half its bytes on disk)."""
    priority = 'LOWEST'

    def __init__(self, at: int, mid_write: bool = False) -> None:
        self.at, self.mid_write = at, mid_write

    def before_run(self, runner) -> None:
        if not self.mid_write:
            return
        from mmengine.fileio.backends import local_backend
        real_put = local_backend.LocalBackend.put
        name = f'iter_{self.at}.pth'

        def put(backend, obj, filepath):
            if name in str(filepath):
                with open(filepath, 'wb') as f:
                    f.write(obj[:len(obj) // 2])
                    f.flush()
                    os.fsync(f.fileno())
                _die()
            return real_put(backend, obj, filepath)
        local_backend.LocalBackend.put = put

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if not self.mid_write and runner.iter + 1 == self.at:
            _die()
