"""The step benchmark's variants of a config, built alike (same seed)."""
import copy

import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper
from mmseg.registry import MODELS

from .evidence import auto_cache_dir
from .methods import parse_variant, semi_method_cfg


def mid_training(cfg: Config) -> None:
    """Record in the current MessageHub the iteration a Runner would: half
    of the config's ``max_iters`` (past any warm-up, so a method with a
    schedule, DWL's, runs its steady-state step)."""
    max_iters = int((cfg.get('train_cfg') or {}).get('max_iters') or 1000)
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', max_iters)
    hub.update_info('iter', max_iters // 2)


def build_variant(cfg: Config, name: str, device, amp: bool, images=None):
    """A variant's model (seeded, initialised, in train mode on ``device``)
    and optimizer wrapper. A semi-supervised variant is the config's model
    with its method's step (``model.semi_method``, :mod:`.methods`): a
    method's plain variant (``fixmatch``, ``unimatch_v2``, ...) drops the
    purifier, a purified one (``semiearth_<evidence>``,
    ``<method>_<evidence>``) sets its evidence source, and
    ``semiearth_auto`` gets its own cache (:func:`auto_cache_dir`) and
    ``images`` (the image source). ``amp``: ``AmpOptimWrapper``. The
    steps run at mid-training (:func:`mid_training`)."""
    model_cfg = copy.deepcopy(cfg.model)
    method, evidence = parse_variant(name)
    mid_training(cfg)
    if method != 'supervised':
        model_cfg.semi_method = semi_method_cfg(method)
        if evidence is None:
            model_cfg.purifier = None
        else:
            model_cfg.purifier.evidence = evidence
    if name == 'semiearth_auto':
        model_cfg.purifier.cache_dir = auto_cache_dir(cfg)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg).to(device)
    model.init_weights()
    model.train()
    if evidence in ('online', 'auto'):
        model.purifier.vlm.to(device)  # build it now, not in a timed step
    if name == 'semiearth_auto':
        model.purifier.bind_images(images)
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    if amp:
        optim_cfg['type'] = 'AmpOptimWrapper'
    return model, build_optim_wrapper(model, optim_cfg)
