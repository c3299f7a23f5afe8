"""SemiEarth: semi-supervised semantic segmentation of remote-sensing images
for MMSegmentation 1.x.

Importing the package applies the CPU-stack shims of :mod:`semiearth.compat`
(no-ops on a full CUDA install) and registers every SemiEarth component in
mmseg's registries, so configs only need
``custom_imports = dict(imports=['semiearth'], allow_failed_imports=False)``.
The import-order-sensitive shims (torchvision beside a CPU torch, mmcv-lite's
``mmcv.ops``) are in place before this runs on the CPU stack: its set-up
(``tools/setup_env.sh``) writes the start-up hook ``semiearth_startup.pth``,
which sets them up in every interpreter, so ``import open_clip`` or mmseg
first works too. ``pip install`` of the package writes no hook (a GPU install
with matched torch/torchvision and full mmcv needs none); ``compat.apply()``
then sets them up here, for everything imported after ``semiearth``.
"""
from . import compat

compat.apply()

from . import apis, datasets, engine, evaluation, models, samplers, vlm  # noqa: E402,F401  (registers modules)

__version__ = '0.1.0'
