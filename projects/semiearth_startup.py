"""SemiEarth's interpreter-start hook: the import-order-sensitive CPU-stack
shims, applied just before the module that needs them is first imported.

``pip install -e .`` (``tools/setup_env.sh``) puts ``semiearth_startup.pth``
(one line: ``import semiearth_startup; semiearth_startup.install()``) into
site-packages, so every interpreter of the environment runs :func:`install`
at start-up. It only puts :class:`CPUStackFinder` at the front of
``sys.meta_path``; nothing heavy (torch, mmcv, the ``semiearth`` package) is
imported at start-up. The finder acts on exactly two imports:

* ``torchvision._meta_registrations``, which ``import torchvision`` runs after
  ``torchvision.extension`` has tried to load torchvision's compiled ops. When
  they loaded (a matching torch/torchvision pair) it does nothing. When they
  did not (a CUDA torchvision wheel beside a CPU torch), that module would
  fail with ``operator torchvision::nms does not exist``; the finder first
  declares the two operator schemas it registers fake kernels for (``nms``,
  ``qnms``), so torchvision's Python side imports. The C++ ops themselves
  (nms, roi_align, ...) stay unavailable and raise when called.
* ``mmcv.ops``. With mmcv's compiled ops present (``mmcv._ext``, a full mmcv
  install) it does nothing. With mmcv-lite, whose ``mmcv.ops`` fails with
  ``No module named 'mmcv._ext'`` although mmseg 1.2.2 imports it at module
  level, it supplies a stand-in package: the pure-PyTorch ``point_sample`` /
  ``bilinear_grid_sample`` (``mmcv.ops.point_sample`` and the other files of
  mmcv's ``ops`` directory stay importable as its submodules), a
  ``sigmoid_focal_loss`` that raises a clear error if called, and
  ``ModuleNotFoundError`` for any other name (mmseg's own ``try: from
  mmcv.ops import ... except ImportError`` guards expect that).

This module must stay importable without torch, mmcv or ``semiearth``: it is
a top-level module (``projects/semiearth_startup.py``) so that importing it
does not run ``semiearth/__init__.py``. ``semiearth.compat`` reuses it, which
covers a ``semiearth`` used without the ``.pth`` (e.g. ``PYTHONPATH=projects``).
"""
import os.path as osp
import sys

#: torchvision registers fake kernels for these without checking that its
#: compiled ops loaded (the other ops' meta registrations are guarded).
TORCHVISION_SCHEMAS = (
    ('nms', 'nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor'),
    ('qnms', 'qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor'),
)
TORCHVISION_TRIGGER = 'torchvision._meta_registrations'
MMCV_OPS = 'mmcv.ops'

# torch.library.Library objects must outlive the call that made them, or
# their definitions are dropped again
_LIBRARIES: list = []


def _torchvision_op_exists(torch, name: str) -> bool:
    try:
        getattr(torch.ops.torchvision, name)
        return True
    except (AttributeError, RuntimeError):
        return False


def declare_torchvision_op_schemas() -> bool:
    """Declare ``torchvision::nms`` / ``qnms`` if torchvision's compiled ops
    did not load. Returns whether anything was declared.

    Called just before ``torchvision._meta_registrations`` executes, i.e.
    after ``torchvision.extension`` has tried to load ``torchvision/_C``;
    its ``_has_ops()`` is the real component's own answer.
    """
    import importlib
    extension = importlib.import_module('torchvision.extension')
    if extension._has_ops():
        return False  # matching torch/torchvision: the real ops are registered
    import torch
    missing = [schema for name, schema in TORCHVISION_SCHEMAS
               if not _torchvision_op_exists(torch, name)]
    if not missing:
        return False
    lib = torch.library.Library('torchvision', 'FRAGMENT')  # noqa: TOR901
    for schema in missing:
        lib.define(schema)
    _LIBRARIES.append(lib)
    return True


def mmcv_has_compiled_ops() -> bool:
    """Whether the installed mmcv ships its compiled ops (full mmcv)."""
    import importlib.util
    return importlib.util.find_spec('mmcv._ext') is not None


def _sigmoid_focal_loss(*args, **kwargs):
    raise RuntimeError(
        'sigmoid_focal_loss needs mmcv built with compiled ops; mmcv-lite '
        'has none. Install full mmcv (README, "Install on a GPU machine") or use '
        'mmseg FocalLoss on CPU, which takes its pure-PyTorch path.')


def _missing_op(name: str):
    if name.startswith('__'):
        raise AttributeError(name)
    raise ModuleNotFoundError(
        f"mmcv.ops.{name} needs mmcv's compiled ops (mmcv-lite has none). "
        'Install the full mmcv package to use it.')


class MmcvOpsStandInLoader:
    """Loader of the stand-in ``mmcv.ops`` package (see the module doc)."""

    def create_module(self, spec):
        return None  # a plain module object

    def exec_module(self, module) -> None:
        import importlib
        module.__doc__ = ('semiearth_startup stand-in for mmcv.ops: mmcv-lite '
                          'has no compiled ops')
        # the module is in sys.modules already, so mmcv's own pure-PyTorch
        # file imports as its submodule; its name is then rebound to the
        # function, as mmcv/ops/__init__.py does
        point_sample = importlib.import_module('mmcv.ops.point_sample')
        module.point_sample = point_sample.point_sample
        module.bilinear_grid_sample = point_sample.bilinear_grid_sample
        module.sigmoid_focal_loss = _sigmoid_focal_loss
        module.__getattr__ = _missing_op


def mmcv_ops_stand_in_spec():
    """The spec of the stand-in ``mmcv.ops`` (``mmcv`` must be imported)."""
    from importlib.machinery import ModuleSpec
    mmcv = sys.modules['mmcv']
    spec = ModuleSpec(MMCV_OPS, MmcvOpsStandInLoader(),
                      origin='semiearth_startup (stand-in for mmcv.ops)',
                      is_package=True)
    spec.submodule_search_locations = [osp.join(osp.dirname(mmcv.__file__), 'ops')]
    return spec


class CPUStackFinder:
    """Meta path finder that applies the CPU-stack shims on first import of
    ``torchvision`` / ``mmcv.ops``; every other import passes through.

    It is stateless: asking again (a second interpreter-level import after a
    failed one, an ``importlib.util.find_spec`` probe) gives the same answer.
    """
    _semiearth_cpu_stack = True  # marks an installed finder across reloads

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname == TORCHVISION_TRIGGER:
            declare_torchvision_op_schemas()
            return None  # torchvision's own module, found by the usual finders
        if fullname == MMCV_OPS and not mmcv_has_compiled_ops():
            return mmcv_ops_stand_in_spec()
        return None

    def invalidate_caches(self) -> None:
        pass


def installed() -> bool:
    """Whether a :class:`CPUStackFinder` is on ``sys.meta_path``."""
    return any(getattr(f, '_semiearth_cpu_stack', False) for f in sys.meta_path)


def install() -> None:
    """Put a :class:`CPUStackFinder` first on ``sys.meta_path`` (once)."""
    if not installed():
        sys.meta_path.insert(0, CPUStackFinder())
