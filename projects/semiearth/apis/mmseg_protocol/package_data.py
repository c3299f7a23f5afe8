"""The configuration data the mmseg protocol reads at run time. It ships
inside the package (``semiearth/apis/mmseg_protocol/configs_data/``, package
data), so a non-editable ``pip install`` wraps configs without this
repository's ``configs/``."""
import os.path as osp
from typing import Dict

from mmengine.config import Config

DATA_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'configs_data')
# the teacher-student hooks, loops, optimiser constructor and strong view a
# wrapped config takes
RUNTIME = osp.join(DATA_DIR, 'teacher_student_runtime.yaml')
# the purifier the SemiEarth leaves inherit (their ``_base_``)
PURIFIER_BASE = osp.join(DATA_DIR, 'vlm-pp_segearth-vit-b16.yaml')


def semi_runtime() -> Dict:
    """The contents of :data:`RUNTIME`: ``custom_hooks``, ``train_loop``,
    ``val_loop``, ``optim_wrapper_constructor``, ``strong_view``."""
    if not osp.isfile(RUNTIME):
        raise FileNotFoundError(
            f"'{RUNTIME}' is missing: the package was installed without its data files. "
            'Fix: reinstall semiearth with pip install . (it ships every non-Python file '
            'under projects/semiearth/).')
    return Config.fromfile(RUNTIME).to_dict()
