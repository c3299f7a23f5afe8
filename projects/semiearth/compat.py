"""Import-time workarounds for the CPU stack, in one place.

Applied once by ``import semiearth``. Each shim checks whether the real
component is present and does nothing when it is, so a GPU user with a CUDA
build of torch/torchvision and a full ``mmcv`` (compiled ops) runs upstream
code untouched. The breakages and fixes are those recorded in the project's
``shared/STACK.md``:

1. ``torchvision`` wheels built for CUDA fail to import beside a CPU torch
   (``operator torchvision::nms does not exist``). Declaring the two operator
   schemas lets the Python side import; transforms and models work, the C++
   detection ops (nms, roi_align) do not and are not used here.
2. ``mmcv-lite`` ships no compiled ops, yet mmseg 1.2.2 imports ``mmcv.ops``
   at module level. A stand-in ``mmcv.ops`` module exposes the pure-PyTorch
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
"""
import functools
import importlib.util
import os
import os.path as osp
import pickle
import re
import sys
import types

import torch

_APPLIED = False


def _patch_torchvision_ops() -> None:
    if 'torchvision' in sys.modules:
        return
    try:
        torch.ops.torchvision.nms  # noqa: B018 - registered by a matching torchvision
        return
    except (AttributeError, RuntimeError):
        pass
    spec = importlib.util.find_spec('torchvision')
    if spec is None:
        return
    # Only declare the schemas if a plain import fails for this reason.
    lib = torch.library.Library('torchvision', 'FRAGMENT')  # noqa: TOR901
    for schema in ('nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor',
                   'qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor'):
        try:
            lib.define(schema)
        except RuntimeError:
            pass  # already defined: the real extension is loaded
    _patch_torchvision_ops.library = lib  # keep the fragment alive


def _mmcv_has_compiled_ops() -> bool:
    return importlib.util.find_spec('mmcv._ext') is not None


def _patch_mmcv_ops() -> None:
    if 'mmcv.ops' in sys.modules or _mmcv_has_compiled_ops():
        return
    mmcv_spec = importlib.util.find_spec('mmcv')
    if mmcv_spec is None or mmcv_spec.origin is None:
        return
    ops_dir = osp.join(osp.dirname(mmcv_spec.origin), 'ops')
    module = types.ModuleType('mmcv.ops')
    module.__file__ = osp.join(ops_dir, '__init__.py')
    module.__path__ = [ops_dir]  # submodules such as mmcv.ops.point_sample resolve
    module.__doc__ = 'semiearth.compat stand-in for mmcv.ops without compiled ops'
    sys.modules['mmcv.ops'] = module
    import mmcv
    mmcv.ops = module  # as the import system does for a real submodule
    from mmcv.ops import point_sample as _ps  # pure PyTorch

    def sigmoid_focal_loss(*args, **kwargs):
        raise RuntimeError(
            'sigmoid_focal_loss needs mmcv built with compiled ops; mmcv-lite '
            'has none. Install full mmcv (README, "GPU install") or use '
            'mmseg FocalLoss on CPU, which takes its pure-PyTorch path.')

    module.point_sample = _ps.point_sample
    module.bilinear_grid_sample = _ps.bilinear_grid_sample
    module.sigmoid_focal_loss = sigmoid_focal_loss

    def __getattr__(name):
        if name.startswith('__'):
            raise AttributeError(name)
        raise ModuleNotFoundError(
            f"mmcv.ops.{name} needs mmcv's compiled ops (mmcv-lite has none). "
            'Install the full mmcv package to use it.')

    module.__getattr__ = __getattr__


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
            f"checkpoint '{name}' holds {what}, which is not among what MMEngine / mmseg "
            'checkpoints hold; it was not loaded (unpickling it could run code). If you '
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
    _patch_torchvision_ops()
    _patch_mmcv_ops()
    _patch_mmengine_checkpoint_load()
    _patch_cpu_distributed()
    _APPLIED = True
