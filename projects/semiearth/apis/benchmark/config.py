"""What the step benchmark reads from a config: the kind of model, its
variants, the batch and image layout, and the pretrained weights it may
skip."""
from typing import List, Optional, Sequence, Tuple

from mmengine.config import Config
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS

from ...models.segmentors import SemiEarthSegmentor
from ..vlm_tools import purifier_cfg
from .methods import METHOD_TYPES, all_variant_names, method_variants, purified_name

# FixMatch's variants (a SemiEarth config's default)
SEMI_VARIANTS = ('fixmatch', 'semiearth_online', 'semiearth_cached', 'semiearth_auto')
ALL_VARIANTS = all_variant_names()


class BenchmarkError(ValueError):
    """A config or option the step benchmark cannot run (the message says
    the fix)."""


def model_kind(cfg: Config, config: str) -> str:
    """``'semi'`` for a SemiEarthSegmentor config, ``'supervised'`` for any
    other mmseg segmentor, else a :class:`BenchmarkError`."""
    model = cfg.get('model')
    seg_type = model.get('type') if isinstance(model, dict) else None
    cls = MODELS.get(seg_type) if isinstance(seg_type, str) else None
    if not (isinstance(cls, type) and issubclass(cls, BaseSegmentor)):
        raise BenchmarkError(
            f'{config}: model.type is {seg_type!r}, not an mmseg segmentor; '
            'benchmark_step times segmentation training steps. Fix: pass a config '
            'whose model is an EncoderDecoder (configs/supervised/) or a '
            'SemiEarthSegmentor (configs/fixmatch/, configs/semiearth/).')
    return 'semi' if issubclass(cls, SemiEarthSegmentor) else 'supervised'


def config_method(cfg: Config, config: str) -> str:
    """The benchmark's name of the config's own S4 method
    (``model.semi_method.type``; FixMatch when unset)."""
    kind = (cfg.model.get('semi_method') or {}).get('type', 'FixMatch')
    names = {v: k for k, v in METHOD_TYPES.items()}
    if kind not in names:
        raise BenchmarkError(f'{config}: model.semi_method.type {kind!r} is not one of the '
                             f"benchmark's methods {sorted(names)}. Fix: add a row to "
                             'semiearth/apis/benchmark/methods.py (METHOD_TYPES).')
    return names[kind]


def default_variants(cfg: Config, purifier: bool, all_methods: bool, config: str) -> List[str]:
    """Without ``--variants``: every registered method against FixMatch,
    each also with cached evidence when the config has a purifier
    (``all_methods``); else the config's own method: FixMatch's variants
    (``fixmatch``; with a purifier ``semiearth_online / _cached / _auto``),
    or FixMatch then the method (with a purifier: both with cached
    evidence too)."""
    if all_methods:
        names = method_variants(False)
        return names + ([purified_name(m, 'cached') for m in names] if purifier else [])
    own = config_method(cfg, config)
    if own == 'fixmatch':
        return list(SEMI_VARIANTS) if purifier else ['fixmatch']
    names = ['fixmatch', own]
    return names + (['semiearth_cached', purified_name(own, 'cached')] if purifier else [])


def config_variants(cfg: Config, kind: str, wanted: Optional[Sequence[str]],
                    config: str, all_methods: bool = False) -> List[str]:
    """The variants of the config (``wanted`` of them, in that order, when
    given; else :func:`default_variants`). Any registered method can be
    timed on the config's model (``model.semi_method`` replaced); purified
    variants need the config's purifier."""
    if kind == 'supervised':
        available = ['supervised']
        if all_methods:
            raise BenchmarkError(f'{config}: --all-methods times S4 methods; this is a '
                                 'supervised config. Fix: pass a semi-supervised config.')
    else:
        purifier = bool(cfg.model.get('purifier'))
        if purifier:
            purifier_cfg(cfg)  # a purifier must have a VLM
        available = method_variants(purifier)
        if not wanted:
            return default_variants(cfg, purifier, all_methods, config)
    if not wanted:
        return available
    missing = [v for v in wanted if v not in available]
    if missing:
        raise BenchmarkError(f'{config}: this config has variants {available}, not '
                             f'{missing}. Fix: pick --variants among {available}.')
    return list(dict.fromkeys(wanted))


def batch_options(cfg: Config, kind: str, batch_size: int, config: str) -> dict:
    """Config overrides for a per-GPU batch of ``batch_size`` (half of it
    labeled for semi-supervised configs)."""
    opts = {'train_dataloader.batch_size': batch_size}
    if kind == 'semi':
        if batch_size < 2:
            raise BenchmarkError(f'{config}: a semi-supervised batch needs >= 2 samples '
                                 '(labeled and unlabeled). Fix: --batch-size 2 or more.')
        sampler = cfg.train_dataloader.get('sampler') or {}
        if 'batch_size' in sampler:
            opts['train_dataloader.sampler.batch_size'] = batch_size
        if 'num_labeled' in sampler:
            opts['train_dataloader.sampler.num_labeled'] = batch_size // 2
    return opts


def num_labeled(cfg: Config, kind: str) -> int:
    """Labeled samples per batch: all of a supervised one, the sampler's
    ``num_labeled`` (default half) of a semi-supervised one."""
    batch_size = int(cfg.train_dataloader.batch_size)
    if kind != 'semi':
        return batch_size
    return int((cfg.train_dataloader.get('sampler') or {}).get('num_labeled',
                                                                batch_size // 2))


def seg_cfg(cfg: Config, kind: str):
    return cfg.model.segmentor if kind == 'semi' else cfg.model


def data_preprocessors(cfg: Config, kind: str) -> list:
    """The model's data preprocessor configs (the wrapper's and the
    segmentor's for semi-supervised configs)."""
    dps = [cfg.model.get('data_preprocessor')]
    if kind == 'semi':
        dps.append(cfg.model.segmentor.get('data_preprocessor'))
    return [dp for dp in dps if dp]


def num_classes(cfg: Config, kind: str, config: str) -> int:
    head = seg_cfg(cfg, kind).get('decode_head')
    head = head[-1] if isinstance(head, (list, tuple)) else head
    if not head or 'num_classes' not in head:
        raise BenchmarkError(f'{config}: the model has no decode_head.num_classes '
                             '(fake labels need it). Fix: use an mmseg segmentor config.')
    return int(head['num_classes'])


def num_bands(cfg: Config, kind: str) -> int:
    """Bands of the images: the data preprocessor's means (3 without any)."""
    for dp in data_preprocessors(cfg, kind):
        if dp.get('mean') is not None:
            return len(dp['mean'])
    return 3


def crop_size(cfg: Config, kind: str, crop_arg, config: str) -> Optional[Tuple[int, int]]:
    """``crop_arg`` when given, else the config's ``crop_size`` variable,
    else the data preprocessor's ``size``; None without any."""
    if crop_arg:
        return tuple(crop_arg)
    crop = cfg.get('crop_size')
    if crop is None:
        crop = next((dp['size'] for dp in data_preprocessors(cfg, kind)
                     if dp.get('size')), None)
    if crop is None:
        return None
    crop = (crop, crop) if isinstance(crop, int) else tuple(crop)
    return tuple(int(s) for s in crop)


def strip_pretrained(node) -> None:
    """Drop ``Pretrained`` init_cfgs and ``pretrained`` paths in a model config."""
    if isinstance(node, dict):
        for key in list(node):
            value = node[key]
            if key == 'pretrained' and isinstance(value, str):
                node[key] = None
            elif key == 'init_cfg' and _is_pretrained(value):
                node[key] = None
            else:
                strip_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            strip_pretrained(value)


def _is_pretrained(init_cfg) -> bool:
    items = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(isinstance(i, dict) and i.get('type') == 'Pretrained' for i in items)
