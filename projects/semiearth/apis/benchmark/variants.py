"""The step benchmark's variants of a config, built alike (same seed)."""
import copy

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmseg.registry import MODELS

from .evidence import auto_cache_dir


def build_variant(cfg: Config, name: str, device, amp: bool, images=None):
    """A variant's model (seeded, initialised, in train mode on ``device``)
    and optimizer wrapper: ``fixmatch`` drops the purifier,
    ``semiearth_<evidence>`` sets its evidence source, and
    ``semiearth_auto`` gets its own cache (:func:`auto_cache_dir`) and
    ``images`` (the image source). ``amp``: ``AmpOptimWrapper``."""
    model_cfg = copy.deepcopy(cfg.model)
    if name == 'fixmatch':
        model_cfg.purifier = None
    elif name.startswith('semiearth_'):
        model_cfg.purifier.evidence = name[len('semiearth_'):]
    if name == 'semiearth_auto':
        model_cfg.purifier.cache_dir = auto_cache_dir(cfg)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg).to(device)
    model.init_weights()
    model.train()
    if name in ('semiearth_online', 'semiearth_auto'):
        model.purifier.vlm.to(device)  # build it now, not in a timed step
    if name == 'semiearth_auto':
        model.purifier.bind_images(images)
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    if amp:
        optim_cfg['type'] = 'AmpOptimWrapper'
    return model, build_optim_wrapper(model, optim_cfg)
