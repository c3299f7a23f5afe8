"""Import-time workarounds for the CPU stack, in one place.

Each shim checks whether the real component is present and does nothing when
it is, so a GPU user with a CUDA build of torch/torchvision and a full
``mmcv`` (compiled ops) runs upstream code untouched. The breakages met on
the pinned CPU stack (docs/install.md) and their fixes:

1. ``torchvision`` wheels built for CUDA fail to import beside a CPU torch
   (``operator torchvision::nms does not exist``). Declaring the two operator
   schemas lets the Python side import; transforms and models work, the C++
   detection ops (nms, roi_align) do not and are not used here.
2. ``mmcv-lite`` ships no compiled ops, yet mmseg 1.2.2 imports ``mmcv.ops``
   at module level. A stand-in ``mmcv.ops`` package exposes the pure-PyTorch
   ``point_sample``/``bilinear_grid_sample``; ``sigmoid_focal_loss`` raises a
   clear error if ever called (mmseg's FocalLoss uses its Python version on
   CPU); any other name raises ``ModuleNotFoundError``, which mmseg's own
   ``try/except`` guards expect.
3. torch >= 2.6 defaults to ``torch.load(weights_only=True)``; mmengine
   0.10.7's checkpoint loader does not say otherwise, so resume fails on its
   own ``HistoryBuffer`` and numpy scalars. ``mmengine.runner.checkpoint``
   (``load_from``, ``--resume``, ``Pretrained`` backbones, ``tools/test.py``)
   keeps ``weights_only=True`` with an allowlist of exactly what MMEngine /
   mmseg checkpoints hold (:data:`CHECKPOINT_SAFE_GLOBALS`; ``getattr`` only
   as MMEngine's ``HistoryBuffer`` uses it). Anything else is refused with an
   :class:`UnsafeCheckpointError` naming the file and the global, before any
   of its code runs. A file the user trusts loads with full pickle when its
   path is listed in the ``SEMIEARTH_TRUSTED_CHECKPOINTS`` environment
   variable (``os.pathsep``-separated; off by default).
4. CPU distributed training (``tools/dist_train.sh`` on a machine without
   GPUs): mmengine calls ``torch.cuda.set_device`` and gives DDP
   ``device_ids``; both are CUDA-only. Without CUDA the first is skipped and
   the second dropped for CPU modules. With CUDA this shim is not installed.

Import order. Shims 1 and 2 must be in place *before* torchvision / mmcv.ops
is first imported, and users import many things first: ``import open_clip``
or ``import torchvision`` (both import torchvision), mmseg's ``init_model``
or an older mmseg ``tools/train.py`` that calls ``register_all_modules()``
before reading the config (both import ``mmcv.ops``), or ``import
semiearth``. Applying them on ``import semiearth`` alone leaves every other
order broken, so they live in the top-level module ``semiearth_startup``
(``projects/semiearth_startup.py``), which the CPU stack's set-up puts behind
a ``semiearth_startup.pth`` start-up hook (``tools/setup_env.sh`` runs
``python -m semiearth_startup install-hook``; ``pip install`` of the package
installs no start-up code, so a GPU install gets none). The hook only inserts
a meta path finder; the finder runs shim 1 just before
``torchvision._meta_registrations`` executes (after torchvision has tried to
load its compiled ops, whose own ``_has_ops()`` decides) and supplies shim
2's stand-in when ``mmcv.ops`` is first imported and ``mmcv._ext`` is absent.
(Shim 1 used to run on ``import semiearth``, declaring the schemas whenever
``torch.ops.torchvision.nms`` was missing, which is also the case before a
*matching* torchvision has loaded its ops; its ``_C`` library would then
register ``nms`` a second time, which torch refuses. Deciding after
torchvision's own attempt makes it a true no-op on a CUDA install.)
Why this and not the alternatives:

* applying the shims eagerly at start-up would import torch in every
  interpreter of the environment (seconds of start-up for ``pip``, ``python
  -c pass`` ...); the finder costs a module import and a name comparison per
  import (``python -c pass`` measured 33 ms before and after, within noise);
* a ``sitecustomize.py`` belongs to the environment, not to a package, and
  only one can exist;
* patching files of torchvision / mmcv in site-packages would be undone by
  every reinstall and change them for everyone;
* shims 3 and 4 change behaviour of code that works (safe checkpoint
  loading, DDP on CPU) and are not import-order sensitive, so they stay
  opt-in: applied by ``import semiearth`` (configs do it through
  ``custom_imports``), not by the start-up hook.

Without the hook (a plain ``pip install`` of the package, or ``PYTHONPATH=
projects``) ``import semiearth`` still installs the finder first, so
importing semiearth first (as every tool and config does) keeps working; on
the CPU stack any other first import then fails with upstream's message,
and the fix is ``python -m semiearth_startup install-hook`` (``python -m
semiearth_startup check`` says what an environment needs). On a GPU install
with a matched torch/torchvision and full mmcv the finder finds nothing to
patch.
"""
import functools
import os
import os.path as osp
import pickle
import re
import types

import semiearth_startup
import torch

_APPLIED = False


def _mmcv_has_compiled_ops() -> bool:
    return semiearth_startup.mmcv_has_compiled_ops()


TRUSTED_ENV = 'SEMIEARTH_TRUSTED_CHECKPOINTS'


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint holds a pickled object outside the allowlist."""


def _history_buffer_getattr(obj, name: str):
    """``getattr`` as MMEngine's pickled ``HistoryBuffer`` needs it (its
    statistics methods) and nothing more: a general ``getattr`` in a pickle
    reaches methods that write files (``numpy.ndarray.tofile``)."""
    from mmengine.logging import HistoryBuffer
    # the default statistics (registered lazily, by the first instance) and
    # any registered with HistoryBuffer.register_statistics
    allowed = {'min', 'max', 'current', 'mean'} | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'refused getattr({getattr(obj, "__name__", type(obj).__name__)}, {name!r}): '
        'only HistoryBuffer statistics methods may be looked up in a checkpoint')


def checkpoint_safe_globals() -> list:
    """What MMEngine / mmseg checkpoints hold besides tensors and containers:
    MMEngine's message-hub buffers and numpy arrays, scalars and dtypes (under
    numpy 2 and numpy 1 names)."""
    import numpy as np
    from mmengine.logging import HistoryBuffer
    core = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    allowed = [HistoryBuffer, np.ndarray, np.dtype, core.scalar, core._reconstruct,
               (_history_buffer_getattr, 'builtins.getattr'),
               (_history_buffer_getattr, '__builtin__.getattr')]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        allowed += [(core.scalar, f'{module}.scalar'),
                    (core._reconstruct, f'{module}._reconstruct')]
    allowed += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith('DType')]
    return allowed


def _trusted(path) -> bool:
    listed = [p for p in os.environ.get(TRUSTED_ENV, '').split(os.pathsep) if p]
    if not isinstance(path, (str, os.PathLike)) or not listed:
        return False
    real = osp.realpath(path)
    return any(osp.realpath(p) == real for p in listed)


def safe_checkpoint_load(load, file, *args, **kwargs):
    """``torch.load`` with ``weights_only=True`` and the checkpoint allowlist,
    unless ``file`` is listed in ``SEMIEARTH_TRUSTED_CHECKPOINTS``."""
    if _trusted(file):
        kwargs['weights_only'] = False
        return load(file, *args, **kwargs)
    kwargs['weights_only'] = True
    try:
        with torch.serialization.safe_globals(checkpoint_safe_globals()):
            return load(file, *args, **kwargs)
    except pickle.UnpicklingError as e:
        text = str(e)
        found = re.search(r'GLOBAL ([\w.]+)', text) or re.search(r'refused (getattr\([^)]*\))', text)
        what = f'the global {found.group(1)}' if found else 'an object outside the allowlist'
        name = file if isinstance(file, (str, os.PathLike)) else 'a checkpoint'
        raise UnsafeCheckpointError(
            f"checkpoint '{name}' refused: unsafe content (it holds {what}, which is not "
            'among what MMEngine / mmseg checkpoints hold; it was not loaded: unpickling it '
            'could run code). If you '
            f'trust this file, list its path in {TRUSTED_ENV} (e.g. {TRUSTED_ENV}='
            f'{name} python tools/train.py ...) to load it with full pickle.') from None


def _patch_mmengine_checkpoint_load() -> None:
    import mmengine.runner.checkpoint as ckpt
    if getattr(ckpt.torch, '_semiearth_safe_load', False):
        return
    real_torch = ckpt.torch

    @functools.wraps(real_torch.load)
    def load(*args, **kwargs):
        return safe_checkpoint_load(real_torch.load, *args, **kwargs)

    # A module proxy: mmengine.runner.checkpoint sees a torch whose ``load``
    # takes MMEngine's own objects safely; torch itself is untouched.
    proxy = types.ModuleType('torch')
    proxy.__dict__.update(real_torch.__dict__)
    proxy.load = load
    proxy._semiearth_safe_load = True
    ckpt.torch = proxy


def _patch_cpu_distributed() -> None:
    if torch.cuda.is_available():
        return
    import mmengine.dist.utils as dist_utils
    from mmengine.model.wrappers import MMDistributedDataParallel

    if getattr(dist_utils._init_dist_pytorch, '_semiearth_cpu', False):
        return
    real_init = dist_utils._init_dist_pytorch

    @functools.wraps(real_init)
    def init_dist_pytorch(backend, init_backend='torch', **kwargs):
        # nccl and cuda.set_device need CUDA; gloo runs processes on the CPU.
        torch.distributed.init_process_group(backend='gloo', **kwargs)

    init_dist_pytorch._semiearth_cpu = True
    init_dist_pytorch._real = real_init
    dist_utils._init_dist_pytorch = init_dist_pytorch

    real_ddp_init = MMDistributedDataParallel.__init__

    @functools.wraps(real_ddp_init)
    def ddp_init(self, module, detect_anomalous_params=False, **kwargs):
        kwargs.pop('device_ids', None)  # CPU modules take no device_ids
        kwargs.pop('output_device', None)
        real_ddp_init(self, module, detect_anomalous_params, **kwargs)

    MMDistributedDataParallel.__init__ = ddp_init


def apply() -> None:
    """Apply every shim once; each is a no-op where the real part exists."""
    global _APPLIED
    if _APPLIED:
        return
    # shims 1 and 2: on the CPU stack installed at interpreter start by the
    # .pth hook (installing again is a no-op); without the hook (pip install
    # of the package) from here on, which covers every import after semiearth
    semiearth_startup.install()
    _patch_mmengine_checkpoint_load()
    _patch_cpu_distributed()
    _APPLIED = True
