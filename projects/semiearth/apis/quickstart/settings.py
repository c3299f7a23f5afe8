"""The quick start's settings (the command line's, resolved)."""
import os.path as osp
from dataclasses import dataclass, field
from typing import List, Optional

DEFAULT_DATA_ROOT = 'data/nc_landsat'  # the NC Landsat configs' data_root


@dataclass
class QuickstartSettings:
    """Where and how the quick start runs.

    ``root`` is the repository: the tools (``tools/train.py`` ...) run there
    and relative paths (configs, ``data_root``, ``work_dir``) are read from
    it. ``max_iters`` overrides the :data:`SCHEDULE` runs' schedule (smoke
    runs); ``continue_iters`` is the length of the :data:`CONTINUE` runs.
    ``cfg_options`` (``KEY=VALUE``) go to every training and test run."""
    root: str
    work_dir: str
    data_root: str = DEFAULT_DATA_ROOT
    split_seed: int = 0
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    continue_iters: int = 150
    max_iters: Optional[int] = None
    cfg_options: List[str] = field(default_factory=list)
    vlm_checkpoint: Optional[str] = None
    num_vis: int = 6
    scene_dir: Optional[str] = None

    def config_path(self, config: str) -> str:
        return osp.join(self.root, config)
