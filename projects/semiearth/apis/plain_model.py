"""A trained checkpoint as a plain mmseg model: the one place that turns a
SemiEarth teacher-student checkpoint (or a single-model one) and its config
into an mmseg ``EncoderDecoder`` config, its weights and its class names.

Export (:mod:`.export`) writes what :func:`load_plain_model` returns to disk;
scene inference (:mod:`.scene_inference`) predicts with it. Both therefore
build the same model from the same weights, with the normalisation the
SemiEarth model used.
"""
import copy
import logging
import os.path as osp
import re
from collections import OrderedDict
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint
from mmseg.models import EncoderDecoder
from mmseg.registry import DATASETS, MODELS

from ..models.heads import drop_pseudo_classifier_keys

SEMI_PREFIXES = ('teacher', 'student')
SINGLE = 'single'  # ``which`` of a checkpoint that holds one model
FIT_FIX = 'Fix: give the config the checkpoint was trained with.'


class PlainModelError(ValueError):
    """The checkpoint and config do not make a plain model; the message names
    the file, what is wrong and the fix."""


class PlainModel(NamedTuple):
    """A checkpoint's predicting segmentor as plain mmseg.

    ``cfg``: the source config (overrides applied); ``model_cfg``: the plain
    mmseg model config (an ``EncoderDecoder`` with the data preprocessor the
    source model normalised with, no pretrained init); ``segmentor``: that
    model built with ``state_dict`` loaded strictly, in eval mode;
    ``which``: ``'teacher'``, ``'student'`` or ``'single'``;
    ``dataset_meta``: ``classes`` (tuple) and, when known, ``palette``;
    ``source_meta``: the checkpoint's ``meta``; ``notes``: what was changed
    to make the model config plain."""
    cfg: Config
    model_cfg: dict
    segmentor: EncoderDecoder
    state_dict: 'OrderedDict[str, torch.Tensor]'
    which: str
    dataset_meta: dict
    source_meta: dict
    notes: List[str]


def to_plain(value: Any) -> Any:
    """ConfigDict trees as plain dicts and lists (tuples kept)."""
    if isinstance(value, (dict, ConfigDict)):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(to_plain(v) for v in value)
    return value


def load_config(config: Union[str, Config], cfg_options: Optional[dict] = None) -> Config:
    """The config (a copy) with ``cfg_options`` merged and its default scope set."""
    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return cfg


def is_teacher_student(cfg: Config) -> bool:
    """Whether the config's model wraps a segmentor (``SemiEarthSegmentor``)."""
    return 'segmentor' in cfg.model


def _data_preprocessor(semi: dict, seg: dict) -> Optional[dict]:
    # SemiEarthSegmentor's rule: its own preprocessor, else the wrapped segmentor's
    dp = semi.get('data_preprocessor') or seg.get('data_preprocessor')
    if not dp:
        return None
    dp = to_plain(dp)
    if dp.get('type') == 'SemiSegDataPreProcessor':
        dp['type'] = 'SegDataPreProcessor'  # what it is outside training, arguments and all
    return dp


def plain_model_cfg(cfg: Config) -> Tuple[dict, List[str]]:
    """The predicting segmentor of ``cfg`` as a standalone mmseg model config
    (the wrapped one for a teacher-student config), and notes on what changed."""
    notes: List[str] = []
    if is_teacher_student(cfg):
        semi = to_plain(cfg.model)
        seg = semi['segmentor']
        for key in ('train_cfg', 'test_cfg'):  # SemiEarthSegmentor hands these on
            if semi.get(key) is not None:
                seg[key] = semi[key]
        dp = _data_preprocessor(semi, seg)
    else:
        seg = to_plain(cfg.model)
        dp = _data_preprocessor({}, seg)
    seg.pop('pretrained', None)
    seg.pop('init_cfg', None)
    if dp:  # first, where mmseg's configs put it
        seg = dict(type=seg.pop('type'), data_preprocessor=dp,
                   **{k: v for k, v in seg.items() if k != 'data_preprocessor'})
    backbone = seg.get('backbone')
    if isinstance(backbone, dict):
        if backbone.get('init_cfg') is not None:
            notes.append(f'backbone init_cfg {backbone["init_cfg"]} removed: the '
                         'weights are in the checkpoint')
        backbone['init_cfg'] = None
        if backbone.get('type') == 'MultiBandMobileNetV2' and \
                backbone.get('in_channels', 3) == 3:
            # only the first conv differs from mmseg's, and only when
            # in_channels != 3: same layers and parameter names
            backbone.pop('in_channels', None)
            backbone['type'] = 'MobileNetV2'
            notes.append('MultiBandMobileNetV2 with 3 bands written as mmseg MobileNetV2')
    return seg, notes


def read_checkpoint(path: str) -> Tuple['OrderedDict[str, torch.Tensor]', dict]:
    """The state dict (a DDP ``module.`` prefix removed) and ``meta`` of a checkpoint."""
    if not osp.isfile(path):
        raise FileNotFoundError(f"checkpoint '{path}' does not exist. Fix: give the .pth "
                                'file written by tools/train.py (best_*.pth).')
    ckpt = _load_checkpoint(path, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        raise PlainModelError(f"'{path}' holds no state_dict (found {type(ckpt).__name__}). "
                              'Fix: give a checkpoint written by tools/train.py.')
    # a DDP-wrapped model saved as is carries 'module.' (mmengine strips it too)
    state = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state.items())
    return state, dict(ckpt.get('meta') or {})


def split_state_dict(state: Dict[str, torch.Tensor], path: str,
                     which: Optional[str]) -> Tuple['OrderedDict[str, torch.Tensor]', str]:
    """The weights of one model of a checkpoint, prefix removed, and which
    one: ``which`` of a teacher-student checkpoint (``teacher.*`` /
    ``student.*``, without DWL's pseudo-label classifier ``...conv_seg.
    pseudo.*``: dropped and logged), or all of a single-model one (``which``
    must be None)."""
    present = [m for m in SEMI_PREFIXES if any(k.startswith(m + '.') for k in state)]
    if not present:
        if which is not None:
            raise PlainModelError(
                f"'{path}' holds a single model (no teacher.*/student.* weights), so "
                f'{which!r} does not apply. Fix: leave --model out.')
        return OrderedDict((k, v.detach().cpu().clone()) for k, v in state.items()), SINGLE
    which = which or 'teacher'
    if which not in present:
        raise PlainModelError(
            f"'{path}' holds no {which} weights ('{which}.*'); it has: "
            f"{', '.join(present)}. Fix: --model {present[0]}.")
    n = len(which) + 1
    selected = OrderedDict((k[n:], v.detach().cpu().clone())
                           for k, v in state.items() if k.startswith(which + '.'))
    # DWL's pseudo-label classifier (merged into the main one during
    # training) is not part of the plain mmseg model
    selected, dropped = drop_pseudo_classifier_keys(selected)
    if dropped:
        print_log(f"'{path}': {which} weights without the pseudo-label classifier "
                  f'(DWL; merged into conv_seg during training): dropped {dropped}',
                  logger='current', level=logging.INFO)
    return selected, which


def build_segmentor(model_cfg: dict, state: Dict[str, torch.Tensor], checkpoint: str,
                    which: str, cfg_name: str) -> EncoderDecoder:
    """The model of ``model_cfg`` with ``state`` loaded strictly, in eval mode."""
    seg_cls = MODELS.get(model_cfg.get('type')) if isinstance(model_cfg.get('type'), str) \
        else None
    if seg_cls is None or not issubclass(seg_cls, EncoderDecoder):
        raise PlainModelError(
            f"{cfg_name}: the model is {model_cfg.get('type')!r}; a plain model is an "
            'mmseg EncoderDecoder (or a SemiEarthSegmentor wrapping one).')
    # ConfigDict: mmseg reads test_cfg.mode as an attribute
    model: EncoderDecoder = MODELS.build(ConfigDict(copy.deepcopy(model_cfg)))
    own = model.state_dict()
    wrong = [f'{k} {tuple(v.shape)} (model {tuple(own[k].shape)})' for k, v in state.items()
             if k in own and torch.is_tensor(v) and v.shape != own[k].shape]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if wrong or missing or unexpected:
        whose = 'its weights' if which == SINGLE else f'its {which} weights'
        raise PlainModelError(
            f"'{checkpoint}': {whose} do not fit the model of '{cfg_name}': "
            f'{len(wrong)} differ in shape (e.g. {wrong[:2]}), {len(missing)} missing '
            f'(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]}). '
            + FIT_FIX)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model


def _config_metainfo(cfg: Config) -> dict:
    """classes / palette of the config's test (else val) dataset: its class's
    ``METAINFO`` updated by the config's ``metainfo``, as mmengine's
    ``BaseDataset`` merges them."""
    for split in ('test', 'val'):
        dataset = (cfg.get(f'{split}_dataloader') or {}).get('dataset') or {}
        if dataset:
            break
    ds_type = dataset.get('type')
    ds_cls = DATASETS.get(ds_type) if isinstance(ds_type, str) else None
    meta = dict(copy.deepcopy(getattr(ds_cls, 'METAINFO', None) or {}))
    meta.update(to_plain(dataset.get('metainfo') or {}))
    return meta


def dataset_meta(cfg: Config, source_meta: dict, num_classes: int, checkpoint: str) -> dict:
    """Class names and palette: the checkpoint's (what training saw), else the
    config's test dataset's; as plain Python values (``classes`` a tuple, as
    mmseg's datasets give it)."""
    meta = source_meta.get('dataset_meta') or {}
    where = f"'{checkpoint}' (meta.dataset_meta)"
    if not meta.get('classes'):
        meta = _config_metainfo(cfg)
        where = f"the test dataset of '{cfg.filename}'"
    if not meta.get('classes'):
        raise PlainModelError(
            f"'{checkpoint}' has no meta.dataset_meta and the config's test dataset names "
            'no classes; the model would not know its class names. Fix: use a checkpoint '
            'written by tools/train.py, or a config whose test dataset defines classes.')
    classes = tuple(str(c) for c in meta['classes'])
    if len(classes) != num_classes:
        raise PlainModelError(
            f'{where} names {len(classes)} classes {list(classes)} but the model predicts '
            f'{num_classes}; the checkpoint and config do not belong together. ' + FIT_FIX)
    out: Dict[str, Any] = dict(classes=classes)
    if meta.get('palette') is not None:
        out['palette'] = [[int(v) for v in c] for c in meta['palette']][:num_classes]
    if 'reduce_zero_label' in meta:
        out['reduce_zero_label'] = bool(meta['reduce_zero_label'])
    return out


def load_plain_model(config: Union[str, Config], checkpoint: str,
                     which: Optional[str] = None,
                     cfg_options: Optional[dict] = None) -> PlainModel:
    """The model a checkpoint predicts with, as plain mmseg.

    Args:
        config: the config the checkpoint was trained with (path or object);
            a SemiEarth/FixMatch teacher-student config or a plain mmseg one.
        checkpoint: a ``.pth`` of that run.
        which: ``'teacher'`` or ``'student'`` of a teacher-student checkpoint;
            None takes the config's ``model.semi_test_cfg.predict_on`` (the
            teacher unless set: what SemiEarth validated and tested). Must be
            None for a single-model checkpoint.
        cfg_options: config overrides, as ``--cfg-options``.

    Returns:
        A :class:`PlainModel`.

    Raises:
        FileNotFoundError: no checkpoint file.
        PlainModelError: ``which`` is not available in the checkpoint, the
            weights do not fit the config's model, the model is not an
            ``EncoderDecoder``, or no class names can be found.
    """
    if which not in (None, ) + SEMI_PREFIXES:
        raise PlainModelError(f"which={which!r}: use 'teacher', 'student' or None")
    cfg = load_config(config, cfg_options)
    cfg_name = cfg.filename or (config if isinstance(config, str) else '<config>')
    model_cfg, notes = plain_model_cfg(cfg)
    state, source_meta = read_checkpoint(checkpoint)
    if which is None and is_teacher_student(cfg) and \
            any(k.startswith(tuple(p + '.' for p in SEMI_PREFIXES)) for k in state):
        which = (cfg.model.get('semi_test_cfg') or {}).get('predict_on')
    state, which = split_state_dict(state, checkpoint, which)
    segmentor = build_segmentor(model_cfg, state, checkpoint, which, cfg_name)
    meta = dataset_meta(cfg, source_meta, segmentor.decode_head.num_classes, checkpoint)
    return PlainModel(cfg, model_cfg, segmentor, state, which, meta, source_meta, notes)
