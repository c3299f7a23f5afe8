"""SemiEarth's interpreter-start hook: the import-order-sensitive CPU-stack
shims, applied just before the module that needs them is first imported.

Only the CPU stack installs the hook: ``tools/setup_env.sh`` runs ``python -m
semiearth_startup install-hook``, which writes ``semiearth_startup.pth`` (one
line, :data:`PTH_LINE`) into the environment's site-packages; Python's
``site`` module executes such lines in every interpreter of the environment
at start-up. ``pip install`` of the package does not install it: a GPU
install (a torch/torchvision pair built for each other, full mmcv) has
nothing to patch and gets no start-up code at all. ``python -m
semiearth_startup check`` says which shims an environment needs.

The hook only puts :class:`CPUStackFinder` at the front of
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
  ``ModuleNotFoundError`` naming the fix for any other name (mmseg's own
  ``try: from mmcv.ops import ... except ImportError`` guards expect that).

Without the hook (any ``pip install`` of the package, or ``PYTHONPATH=
projects``) ``import semiearth`` installs the finder first thing, so the
tools, which import ``semiearth`` before anything else, work on either stack.

This module must stay importable without torch, mmcv or ``semiearth``: it is
a top-level module (``projects/semiearth_startup.py``) so that importing it
does not run ``semiearth/__init__.py``. ``semiearth.compat`` reuses it.
"""
import argparse
import importlib
import os
import os.path as osp
import sys
import sysconfig
from typing import List, Optional, Sequence

#: torchvision registers fake kernels for these without checking that its
#: compiled ops loaded (the other ops' meta registrations are guarded).
TORCHVISION_SCHEMAS = (
    ('nms', 'nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor'),
    ('qnms', 'qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor'),
)
TORCHVISION_TRIGGER = 'torchvision._meta_registrations'
MMCV_OPS = 'mmcv.ops'

#: The start-up hook's file and its one line. The line is tolerant: should
#: the package be uninstalled and the file left behind, start-up goes on
#: without it instead of printing an ImportError in every interpreter.
PTH_NAME = 'semiearth_startup.pth'
PTH_LINE = ("import importlib.util as _u; _u.find_spec('semiearth_startup') and "
            "__import__('semiearth_startup').install()\n")

#: What the finder has patched in this interpreter, in order (empty where the
#: real components are present): :data:`TORCHVISION_SHIM`, :data:`MMCV_OPS_SHIM`.
APPLIED: List[str] = []
TORCHVISION_SHIM = 'torchvision operator schemas nms/qnms declared (its compiled ops did not load)'
MMCV_OPS_SHIM = 'mmcv.ops stand-in (mmcv has no compiled ops: mmcv-lite)'

#: Where the docs list the mmseg components that need mmcv's compiled ops and
#: how to get them.
FULL_MMCV_FIX = ('Fix: install full mmcv 2.1.0 with compiled ops built for your torch '
                 "(docs/install.md, section 'Components that need full mmcv'), or pick a "
                 'component that does not use it.')

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
    APPLIED.append(TORCHVISION_SHIM)
    return True


def mmcv_has_compiled_ops() -> bool:
    """Whether the installed mmcv ships its compiled ops (full mmcv)."""
    import importlib.util
    return importlib.util.find_spec('mmcv._ext') is not None


def _sigmoid_focal_loss(*args, **kwargs):
    raise RuntimeError(
        "mmcv.ops.sigmoid_focal_loss (mmseg's FocalLoss(use_sigmoid=True) on CUDA "
        "tensors) needs mmcv's compiled ops; the installed mmcv-lite has none. "
        + FULL_MMCV_FIX)


def _missing_op(name: str):
    if name.startswith('__'):
        raise AttributeError(name)
    raise ModuleNotFoundError(
        f"mmcv.ops.{name} needs mmcv's compiled ops; the installed mmcv-lite has "
        'none (semiearth_startup supplies only the pure-PyTorch point_sample). '
        + FULL_MMCV_FIX, name=f'mmcv.ops.{name}')


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
        APPLIED.append(MMCV_OPS_SHIM)


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


# ------------------------------------------------------- the start-up hook
def hook_path(site_packages: Optional[str] = None) -> str:
    """Where the hook goes: this interpreter's ``purelib`` directory (the
    environment's site-packages), unless ``site_packages`` is given."""
    return osp.join(site_packages or sysconfig.get_paths()['purelib'], PTH_NAME)


def install_hook(site_packages: Optional[str] = None) -> str:
    """Write :data:`PTH_LINE` to :func:`hook_path` (CPU stack only; see the
    module doc). Returns the path. Rewrites nothing that is already right."""
    path = hook_path(site_packages)
    if osp.isfile(path) and open(path).read() == PTH_LINE:
        return path
    tmp = f'{path}.{os.getpid()}.partial'
    with open(tmp, 'w') as f:
        f.write(PTH_LINE)
    os.replace(tmp, path)  # an interpreter starting meanwhile sees old or new
    return path


def remove_hook(site_packages: Optional[str] = None) -> Optional[str]:
    """Remove the hook; returns its path if there was one."""
    path = hook_path(site_packages)
    if not osp.isfile(path):
        return None
    os.remove(path)
    return path


def check() -> List[str]:
    """Import torchvision and ``mmcv.ops`` the way a user's code does, with
    the finder in place, and return the shims that had to act (the
    components' own detection: torchvision's ``_has_ops()``, the presence of
    ``mmcv._ext``). Empty on an install whose torch/torchvision are built for
    each other and whose mmcv has compiled ops. A package that is not
    installed at all is skipped."""
    install()
    for name in ('torchvision', MMCV_OPS):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name.split('.')[0]:
                raise
    return list(APPLIED)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m semiearth_startup {install-hook,remove-hook,check}``."""
    parser = argparse.ArgumentParser(
        prog='python -m semiearth_startup',
        description="SemiEarth's CPU-stack start-up hook (see the module doc).")
    parser.add_argument('action', choices=['install-hook', 'remove-hook', 'check'])
    args = parser.parse_args(argv)
    # the functions of the imported module, whose state the hook's finder
    # shares (under ``-m`` this file also runs as ``__main__``)
    startup = importlib.import_module('semiearth_startup')
    if args.action == 'install-hook':
        print(f'[semiearth_startup] start-up hook: {startup.install_hook()}')
    elif args.action == 'remove-hook':
        path = startup.remove_hook()
        print(f'[semiearth_startup] removed {path}' if path else
              f'[semiearth_startup] no hook at {startup.hook_path()}')
    else:
        applied = startup.check()
        hook = startup.hook_path()
        print(f"[semiearth_startup] start-up hook: {hook if osp.isfile(hook) else 'none'}")
        if not applied:
            print('[semiearth_startup] nothing to patch: torchvision loaded its compiled '
                  'ops and mmcv has its compiled ops (or they are not installed)')
        for shim in applied:
            print(f'[semiearth_startup] patched: {shim}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
