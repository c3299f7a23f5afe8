"""What the VLM tools (precompute, study, visualisation, benchmark) share:
reading a SemiEarth config, the unlabeled images as the model sees them,
and the VLM with the weights the user points at."""
import os
from typing import Optional

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from ..vlm import DenseCLIP, check_class_names
from ..vlm.calibration import measure_confusion  # noqa: F401  (the tools' API)
from ..vlm.dataset_images import (DatasetImages, build_loading_dataset,  # noqa: F401
                                  image_names, model_data_preprocessor, normalize_image)

VLM_CKPT_ENV = 'SEMIEARTH_VLM_CKPT'


def load_semi_config(path: str, cfg_options: Optional[dict] = None,
                     vlm_checkpoint: Optional[str] = None) -> Config:
    """A config with overrides applied; ``vlm_checkpoint`` (or the
    ``SEMIEARTH_VLM_CKPT`` variable) sets ``model.purifier.vlm.checkpoint``."""
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    ckpt = vlm_checkpoint or os.environ.get(VLM_CKPT_ENV)
    if ckpt and cfg.model.get('purifier'):
        cfg.model.purifier.vlm.checkpoint = ckpt
    return cfg


def purifier_cfg(cfg: Config) -> dict:
    """``model.purifier`` of a SemiEarth config, or a clear error."""
    purifier = cfg.model.get('purifier')
    if not purifier or 'vlm' not in purifier:
        raise ValueError(f'{cfg.filename}: model.purifier has no VLM (is this a '
                         'SemiEarth config? see configs/semiearth/)')
    return purifier


def build_purifier_vlm(cfg: Config, dataset=None, **overrides) -> DenseCLIP:
    """The config's VLM (weights as configured); checks its classes against
    ``dataset`` when given."""
    vlm_cfg = dict(purifier_cfg(cfg)['vlm'], **overrides)
    vlm: DenseCLIP = MODELS.build(vlm_cfg)
    if dataset is not None:
        check_class_names(vlm.class_keys, dataset.metainfo['classes'],
                          where='model.purifier.vlm.class_names')
    return vlm
