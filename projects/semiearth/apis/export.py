"""Export the teacher (or student) of a SemiEarth checkpoint as a plain mmseg
``EncoderDecoder``: a checkpoint and a config that mmseg's own tools
(``mmseg.apis.init_model`` / ``inference_model``, ``tools/test.py``) run.

What the exported config holds (see ``docs/export.md``):

* ``model``: the wrapped segmentor (``model.segmentor`` of the SemiEarth
  config) with the data preprocessor the SemiEarth model normalised with (its
  per-band mean/std, e.g. the six NC Landsat bands) as mmseg's
  ``SegDataPreProcessor``, the test-time settings SemiEarthSegmentor passes
  on, and no ``Pretrained`` backbone init (the weights are in the exported
  checkpoint). SemiEarth's ``MultiBandMobileNetV2`` with 3 input bands is
  mmseg's ``MobileNetV2`` (same layers, same parameter names) and is written
  as such.
* ``test_pipeline`` / ``test_dataloader`` / ``test_evaluator`` and the
  ``val_*`` twins, in mmseg terms: SemiEarth's datasets (``RSSegDataset`` and
  its subclasses, e.g. ``NCLandsatDataset``) are mmseg's ``BaseSegDataset``
  plus up-front checks, so they become ``BaseSegDataset`` with their
  suffixes, prefixes and classes/palette spelled out; ``LoadRSImageFromFile``
  becomes mmcv's ``LoadImageFromFile`` with the ``tifffile`` decoder for
  ``.tif`` tiles (the same call it makes); ``CheckSegLabels`` (a sanity check
  with no mmseg counterpart) is dropped; ``ClassWiseIoUMetric`` becomes
  mmseg's ``IoUMetric`` (same mIoU; it printed the per-class table already).
* a test-only mmseg runtime (``default_scope``, hooks, visualizer,
  ``test_cfg``).
* ``custom_imports`` only where a component has no mmseg counterpart
  (SemiEarth's ``DINOv2ViT``, ``MultiBandMobileNetV2`` with other than 3
  bands): the modules defining them, nothing else, with a comment saying why.

The checkpoint holds ``state_dict`` (the chosen model's weights, prefix
removed) and ``meta`` with ``dataset_meta`` (classes, palette: what
``init_model`` gives ``model.dataset_meta`` and ``show_result_pyplot``
paints with) and where it came from, all tensors and plain Python values, so
it loads with ``torch.load(weights_only=True)`` (torch >= 2.6's default, what
mmengine's loader calls without SemiEarth's allowlist).
"""
import copy
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint
from mmseg import registry as mmseg_registry

MODELS = ('teacher', 'student')
TIFF_SUFFIXES = ('.tif', '.tiff')


class ExportError(ValueError):
    """The config or checkpoint cannot be exported; the message says why."""


class ExportResult(NamedTuple):
    """What :func:`export_segmentor` wrote."""
    config: str
    checkpoint: str
    model: str
    custom_imports: List[str]
    notes: List[str]


# ---------------------------------------------------------------- helpers
def _plain(value: Any) -> Any:
    """ConfigDict / tuple trees as plain dicts and lists (tuples kept)."""
    if isinstance(value, (dict, ConfigDict)):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def semiearth_types() -> Dict[str, str]:
    """Registered type name -> module, for SemiEarth's classes in mmseg's
    registries (names some other package also registers are left out: the
    exported config could not tell them apart)."""
    ours: Dict[str, str] = {}
    theirs = set()
    for attr in dir(mmseg_registry):
        registry = getattr(mmseg_registry, attr)
        if not hasattr(registry, 'module_dict'):
            continue
        for name, cls in registry.module_dict.items():
            module = getattr(cls, '__module__', '') or ''
            if module.split('.')[0] == 'semiearth':
                ours[name] = module
            else:
                theirs.add(name)
    return {name: module for name, module in ours.items() if name not in theirs}


def _types_in(value: Any) -> List[str]:
    """Every ``type`` string in a config tree (scope prefixes removed)."""
    found = []
    if isinstance(value, dict):
        t = value.get('type')
        if isinstance(t, str):
            found.append(t.split('.')[-1])
        for v in value.values():
            found += _types_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            found += _types_in(v)
    return found


# ------------------------------------------------------------------- model
def plain_model_cfg(cfg: Config) -> Tuple[dict, List[str]]:
    """The wrapped segmentor of a SemiEarth config as a standalone mmseg
    model config, and notes on what changed."""
    notes = []
    semi = cfg.model
    seg = _plain(semi.segmentor)
    # SemiEarthSegmentor hands these to the wrapped segmentor when set
    for key in ('train_cfg', 'test_cfg'):
        if semi.get(key) is not None:
            seg[key] = _plain(semi[key])
    seg.pop('pretrained', None)
    # the preprocessor the SemiEarth model normalised with: its own, else the
    # wrapped segmentor's (SemiEarthSegmentor's rule)
    dp = semi.get('data_preprocessor') or seg.get('data_preprocessor')
    if dp:
        dp = _plain(dp)
        if dp.get('type') == 'SemiSegDataPreProcessor':
            # outside training it is SegDataPreProcessor, arguments and all
            dp['type'] = 'SegDataPreProcessor'
        # first, where mmseg's configs put it
        seg = dict(type=seg.pop('type'), data_preprocessor=dp,
                   **{k: v for k, v in seg.items() if k != 'data_preprocessor'})
    backbone = seg.get('backbone')
    if isinstance(backbone, dict):
        if backbone.get('init_cfg') is not None:
            notes.append(f'backbone init_cfg {backbone["init_cfg"]} removed: the '
                         'weights are in the exported checkpoint')
        backbone['init_cfg'] = None
        if backbone.get('type') == 'MultiBandMobileNetV2' and \
                backbone.get('in_channels', 3) == 3:
            # only the first conv differs from mmseg's, and only when
            # in_channels != 3: same layers and parameter names
            backbone.pop('in_channels', None)
            backbone['type'] = 'MobileNetV2'
            notes.append('MultiBandMobileNetV2 with 3 bands written as mmseg MobileNetV2')
    return seg, notes


# -------------------------------------------------------------------- data
def _img_suffix(dataset: dict, dataset_obj) -> str:
    return (dataset_obj.img_suffix if dataset_obj is not None
            else dataset.get('img_suffix', '')) or ''


def plain_pipeline(pipeline: List[dict], img_suffix: str) -> Tuple[List[dict], List[str]]:
    """A test pipeline in mmseg/mmcv transforms, and notes."""
    out, notes = [], []
    for t in _plain(pipeline):
        kind = t.get('type')
        if kind == 'LoadRSImageFromFile':
            notes.append('LoadRSImageFromFile written as mmcv LoadImageFromFile (the '
                         'decoder it picks for these files, all bands kept)')
            t.pop('fix_hint', None)
            t['type'] = 'LoadImageFromFile'
            # LoadRSImageFromFile's defaults and its choice of decoder
            t.setdefault('color_type', 'unchanged')
            if img_suffix.lower().endswith(TIFF_SUFFIXES):
                t['imdecode_backend'] = 'tifffile'
            out.append(t)
        elif kind == 'CheckSegLabels':
            notes.append('CheckSegLabels dropped (label-value check; mmseg has none)')
        else:
            out.append(t)
    return out, notes


def plain_dataset(dataset: dict) -> Tuple[dict, List[str]]:
    """A SemiEarth ``RSSegDataset`` (or subclass) config as mmseg's
    ``BaseSegDataset``; other datasets unchanged (pipeline converted)."""
    from ..datasets import RSSegDataset
    dataset = _plain(dataset)
    notes = []
    cls = mmseg_registry.DATASETS.get(dataset.get('type'))
    obj = None
    if cls is not None and issubclass(cls, RSSegDataset):
        # built lazily, without data_root, to read the effective defaults
        # (suffixes, prefixes, classes/palette) without touching the disk
        kwargs = {k: v for k, v in dataset.items() if k not in ('type', 'pipeline')}
        kwargs.update(data_root=None, pipeline=[], lazy_init=True)
        obj = cls(**kwargs)
        if obj.label_map is not None:
            obj = None  # a class subset: BaseSegDataset could not remap it
            notes.append(f'{dataset["type"]} kept: its metainfo selects a class subset')
    pipeline, pipe_notes = plain_pipeline(dataset.get('pipeline', []),
                                          _img_suffix(dataset, obj))
    notes += pipe_notes
    if obj is not None:
        notes.append(f'{dataset["type"]} written as mmseg BaseSegDataset (same files; '
                     "without RSSegDataset's up-front checks of the split file)")
        dataset['type'] = 'BaseSegDataset'
        dataset.update(
            img_suffix=obj.img_suffix, seg_map_suffix=obj.seg_map_suffix,
            data_prefix=dict(obj.data_prefix), reduce_zero_label=obj.reduce_zero_label,
            metainfo=dict(classes=list(obj.metainfo['classes']),
                          palette=[list(map(int, c)) for c in obj.metainfo['palette']]))
    dataset['pipeline'] = pipeline
    return dataset, notes


def plain_evaluator(evaluator: Any) -> Any:
    """``ClassWiseIoUMetric`` -> mmseg's ``IoUMetric`` (same arguments)."""
    if isinstance(evaluator, (list, tuple)):
        return [plain_evaluator(e) for e in evaluator]
    evaluator = _plain(evaluator)
    if isinstance(evaluator, dict) and evaluator.get('type') == 'ClassWiseIoUMetric':
        evaluator['type'] = 'IoUMetric'
    return evaluator


def plain_data_cfg(cfg: Config) -> Tuple[dict, List[str]]:
    """``test_pipeline``, ``{test,val}_{dataloader,evaluator}`` in mmseg terms."""
    out, notes = {}, []
    for split in ('test', 'val'):
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        loader = _plain(loader)
        loader['dataset'], ds_notes = plain_dataset(loader['dataset'])
        notes += [n for n in ds_notes if n not in notes]
        out[f'{split}_dataloader'] = loader
        if cfg.get(f'{split}_evaluator'):
            out[f'{split}_evaluator'] = plain_evaluator(cfg[f'{split}_evaluator'])
    source = out.get('test_dataloader') or out.get('val_dataloader')
    if source is not None:
        # what mmseg.apis.inference_model runs (first transform = loading)
        out['test_pipeline'] = copy.deepcopy(source['dataset']['pipeline'])
    else:
        pipeline, pipe_notes = plain_pipeline(cfg.get('test_pipeline', []), '')
        out['test_pipeline'] = pipeline
        notes += pipe_notes
    if not out['test_pipeline']:
        raise ExportError(
            f'{cfg.filename}: no test_dataloader, val_dataloader or test_pipeline; '
            "mmseg's inference_model needs a test pipeline. Fix: add test_pipeline "
            '(loading transform first, PackSegInputs last) to the config.')
    return out, notes


def plain_runtime_cfg(cfg: Config, semiearth: Dict[str, str]) -> dict:
    """What mmseg's ``tools/test.py`` needs besides model and data."""
    hooks = dict(timer=dict(type='IterTimerHook'),
                 logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
                 visualization=dict(type='SegVisualizationHook'))
    for name in hooks:
        theirs = (cfg.get('default_hooks') or {}).get(name)
        if theirs and not set(_types_in(_plain(theirs))) & set(semiearth):
            hooks[name] = _plain(theirs)
    visualizer = _plain(cfg.get('visualizer') or {})
    if not visualizer or set(_types_in(visualizer)) & set(semiearth):
        visualizer = dict(type='SegLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                          name='visualizer')
    return dict(
        default_hooks=hooks,
        visualizer=visualizer,
        env_cfg=_plain(cfg.get('env_cfg') or dict(cudnn_benchmark=False)),
        log_processor=_plain(cfg.get('log_processor') or dict(by_epoch=False)),
        log_level=cfg.get('log_level', 'INFO'),
        test_cfg=dict(type='TestLoop'),
        val_cfg=dict(type='ValLoop'),
    )


# ------------------------------------------------------------- checkpoint
def split_state_dict(ckpt: dict, path: str, which: str) -> 'OrderedDict[str, torch.Tensor]':
    """The ``teacher.*`` or ``student.*`` weights of a SemiEarth checkpoint,
    prefix removed; a clear error if there are none."""
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        raise ExportError(f"'{path}' holds no state_dict (found {type(ckpt).__name__}); "
                          'expected a checkpoint saved by a SemiEarth training run.')
    # a DDP-wrapped model saved as is carries 'module.' (mmengine strips it too)
    state = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state.items())
    present = [m for m in MODELS if any(k.startswith(m + '.') for k in state)]
    if not present:
        sample = ', '.join(list(state)[:3])
        raise ExportError(
            f"'{path}' is not a SemiEarth teacher-student checkpoint: no 'teacher.*' or "
            f"'student.*' weights (its keys start: {sample}). A plain mmseg checkpoint "
            'needs no export: run it with its own config.')
    if which not in present:
        raise ExportError(
            f"'{path}' holds no {which} weights ('{which}.*'); it has: "
            f"{', '.join(present)}. Fix: --model {present[0]}.")
    n = len(which) + 1
    return OrderedDict((k[n:], v.detach().cpu().clone())
                       for k, v in state.items() if k.startswith(which + '.'))


def _dataset_meta(ckpt: dict, data_cfg: dict, num_classes: Optional[int], path: str) -> dict:
    """classes / palette: the checkpoint's (what training saw), else the
    exported test dataset's; as plain Python values."""
    meta = (ckpt.get('meta') or {}).get('dataset_meta') if isinstance(ckpt, dict) else None
    if not meta or not meta.get('classes'):
        loader = data_cfg.get('test_dataloader') or data_cfg.get('val_dataloader') or {}
        meta = (loader.get('dataset') or {}).get('metainfo')
    if not meta or not meta.get('classes'):
        raise ExportError(
            f"'{path}' has no meta.dataset_meta and the config's test dataset names no "
            'classes; the exported model would not know its class names. Fix: export '
            'with a config whose test_dataloader dataset is a SemiEarth dataset.')
    classes = [str(c) for c in meta['classes']]
    if num_classes is not None and len(classes) != num_classes:
        raise ExportError(
            f"'{path}': dataset_meta names {len(classes)} classes {classes} but the "
            f'model predicts {num_classes}; the checkpoint and config do not belong together.')
    out = dict(classes=tuple(classes))  # a tuple, as mmseg's datasets give it
    if meta.get('palette') is not None:
        out['palette'] = [[int(v) for v in c] for c in meta['palette']]
    for key in ('reduce_zero_label',):
        if key in meta:
            out[key] = bool(meta[key])
    return out


# ------------------------------------------------------------ config text
def _py(value: Any, indent: int = 0) -> str:
    """A config value as Python source: ``type`` first, short values on one
    line (mmengine's own dump sorts keys and splits every list)."""
    if isinstance(value, dict):
        if not value:
            return 'dict()'
        keys = sorted(value, key=lambda k: k != 'type')
        if all(isinstance(k, str) and k.isidentifier() for k in keys):
            items = [f'{k}={_py(value[k], indent + 4)}' for k in keys]
            head, tail = 'dict(', ')'
        else:
            items = [f'{k!r}: {_py(value[k], indent + 4)}' for k in keys]
            head, tail = '{', '}'
    elif isinstance(value, (list, tuple)):
        items = [_py(v, indent + 4) for v in value]
        head, tail = ('[', ']') if isinstance(value, list) else ('(', ')')
        if isinstance(value, tuple) and len(value) == 1:
            items[0] += ','
    elif value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    else:
        raise ExportError(f'cannot write {value!r} ({type(value).__name__}) into a config')
    one_line = head + ', '.join(items) + tail
    if '\n' not in one_line and indent + len(one_line) <= 76:
        return one_line
    pad = ' ' * (indent + 4)
    if head in '[(' and not any('\n' in i or '=' in i for i in items):
        # scalars and short lists (class names, palette rows): filled lines
        lines, line = [], ''
        for i in items:
            if line and len(pad) + len(line) + len(i) + 2 > 78:
                lines.append(line + ',')
                line = ''
            line = f'{line}, {i}' if line else i
        return head + '\n' + '\n'.join(pad + x for x in lines + [line]) + tail
    return head + '\n' + ',\n'.join(pad + i for i in items) + tail


def _comment(text: str) -> str:
    import textwrap
    return '\n'.join('# ' + line for line in textwrap.wrap(text, 77)) + '\n'


def config_text(sections: dict, header: List[str], imports: Dict[str, List[str]],
                notes: List[str], model_doc: str) -> str:
    """The exported config file."""
    text = ''.join('# ' + line + '\n' if line else '#\n' for line in header) + '\n'
    if imports:
        names = ', '.join(f"{', '.join(sorted(v))} ({k})" for k, v in sorted(imports.items()))
        text += _comment(
            'SemiEarth components without an mmseg counterpart: ' + names + '. '
            'custom_imports imports only the module(s) defining them. Python runs the '
            "`semiearth` package's __init__ first, which also registers SemiEarth's other "
            'components and applies its CPU-stack shims (no-ops on a full CUDA '
            'install), so SemiEarth must be installed (pip install -e <SemiEarth '
            'repository>).')
        text += 'custom_imports = ' + _py(dict(imports=sorted(imports),
                                               allow_failed_imports=False)) + '\n'
    else:
        text += _comment('Every component is an mmseg/mmcv/mmengine one: no custom_imports, '
                         'mmseg alone runs this config.')
    text += "default_scope = 'mmseg'\n\n"
    text += _comment(model_doc)
    text += 'model = ' + _py(sections['model']) + '\n\n'
    if notes:
        text += _comment('Data, as the SemiEarth config evaluated it, in mmseg terms: '
                         + '; '.join(notes) + '.')
    text += _comment('inference_model runs test_pipeline (it replaces the first '
                     'transform by LoadImageFromNDArray for arrays and drops '
                     'LoadAnnotations).')
    for key in ('test_pipeline', 'test_dataloader', 'test_evaluator',
                'val_dataloader', 'val_evaluator'):
        if key in sections:
            text += f'{key} = {_py(sections[key])}\n'
    text += '\n' + _comment("Runtime for mmseg's tools/test.py (test and val loops only).")
    for key in ('test_cfg', 'val_cfg', 'default_hooks', 'visualizer', 'env_cfg',
                'log_processor', 'log_level'):
        text += f'{key} = {_py(sections[key])}\n'
    return text


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    return value


# ------------------------------------------------------------------ export
def export_segmentor(config: Union[str, Config], checkpoint: str, out_dir: str,
                     model: Optional[str] = None,
                     cfg_options: Optional[dict] = None) -> ExportResult:
    """Write ``OUT_DIR/<config name>_<model>.{py,pth}``: a plain mmseg
    ``EncoderDecoder`` config and checkpoint of a SemiEarth model.

    Args:
        config: the SemiEarth (or FixMatch) config the checkpoint was trained
            with, a path or a :class:`Config`.
        checkpoint: a checkpoint of that training run (``teacher.*`` and
            ``student.*`` weights).
        out_dir: where to write; created if missing.
        model: ``'teacher'`` or ``'student'``; None takes the one the config
            predicts with (``model.semi_test_cfg.predict_on``, the teacher
            unless set), i.e. the model SemiEarth validated and tested.
        cfg_options: overrides for the config, as ``--cfg-options``.

    Returns:
        An :class:`ExportResult` (paths written, model, custom imports, notes).

    Raises:
        ExportError: the config is not a SemiEarth teacher-student config,
            the checkpoint holds no such weights (or not the requested
            model's), or they do not fit the config's model.
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg_name = config if isinstance(config, str) else (cfg.filename or '<Config>')
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    if cfg.get('model', {}).get('type') != 'SemiEarthSegmentor':
        raise ExportError(
            f"'{cfg_name}': model.type is {cfg.get('model', {}).get('type')!r}, not "
            "'SemiEarthSegmentor'. This tool exports the teacher or student of a "
            'SemiEarth/FixMatch config (configs/semiearth, configs/fixmatch); a plain '
            'mmseg config and its checkpoint need no export.')
    which = model or (cfg.model.get('semi_test_cfg') or {}).get('predict_on', 'teacher')
    if which not in MODELS:
        raise ExportError(f"model must be 'teacher' or 'student', got {which!r}")
    if not osp.isfile(checkpoint):
        raise ExportError(f"checkpoint '{checkpoint}' does not exist")

    ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    state = split_state_dict(ckpt, checkpoint, which)

    model_cfg, notes = plain_model_cfg(cfg)
    data, data_notes = plain_data_cfg(cfg)
    semiearth = semiearth_types()
    runtime = plain_runtime_cfg(cfg, semiearth)
    sections = dict(model=model_cfg, **data, **runtime)
    imports: Dict[str, List[str]] = {}
    for t in _types_in(sections):
        if t in semiearth:
            imports.setdefault(semiearth[t], [])
            if t not in imports[semiearth[t]]:
                imports[semiearth[t]].append(t)

    # the weights must fit the exported model exactly
    seg = mmseg_registry.MODELS.build(copy.deepcopy(model_cfg))
    try:
        seg.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ExportError(
            f"'{checkpoint}': its {which} weights do not fit the model of "
            f"'{cfg_name}' ({str(e).splitlines()[0]} ...). Export with the config the "
            'checkpoint was trained with.') from None
    num_classes = getattr(getattr(seg, 'decode_head', None), 'num_classes', None)
    dataset_meta = _dataset_meta(ckpt, data, num_classes, checkpoint)
    del seg

    os.makedirs(out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(cfg.filename))[0] if cfg.filename \
        else 'semiearth_export'
    out_cfg = osp.join(out_dir, f'{stem}_{which}.py')
    out_ckpt = osp.join(out_dir, f'{stem}_{which}.pth')
    src_meta = ckpt.get('meta') or {}
    meta = dict(dataset_meta=dataset_meta,
                semiearth_export=dict(source_config=osp.abspath(cfg.filename)
                                      if cfg.filename else cfg_name,
                                      source_checkpoint=osp.abspath(checkpoint),
                                      model=which,
                                      iter=int(src_meta['iter']) if 'iter' in src_meta else None))
    torch.save(dict(meta=meta, state_dict=state), out_ckpt)
    # what plain mmseg does on torch >= 2.6: weights_only=True
    torch.load(out_ckpt, map_location='cpu', weights_only=True)

    dp = model_cfg.get('data_preprocessor') or {}
    bands = len(dp['mean']) if dp.get('mean') is not None else None
    model_doc = (f'The {which} of the SemiEarth model as a plain mmseg '
                 f"{model_cfg.get('type')}. data_preprocessor: the normalisation it was "
                 f'trained and validated with'
                 + (f' ({bands} input bands, per-band mean/std)' if bands else '') + '.')
    iteration = f" (iteration {meta['semiearth_export']['iter']})" \
        if meta['semiearth_export']['iter'] is not None else ''
    header = [
        'Exported by SemiEarth (tools/model_converters/export_segmentor.py) from',
        f'  config:     {cfg_name}',
        f'  checkpoint: {checkpoint}',
        f'  model:      the {which}{iteration}',
        'as a plain mmseg model: no teacher-student wrapper, no purifier, no',
        'semi-supervised data. Weights and dataset_meta (classes, palette) are in',
        f'{osp.basename(out_ckpt)}.',
        '',
        'Inference (CONFIG = this file, CHECKPOINT = the .pth beside it):',
        '  from mmseg.apis import init_model, inference_model',
        "  model = init_model(CONFIG, CHECKPOINT, device='cpu')",
        '  result = inference_model(model, image_path_or_array)',
        "Evaluation, with mmseg's tools/test.py (data_root is relative to the working",
        'directory, as in the SemiEarth config; or pass --cfg-options',
        'test_dataloader.dataset.data_root=DIR):',
        '  python <mmseg>/tools/test.py CONFIG CHECKPOINT',
    ]
    text = config_text(sections, header, imports, data_notes, model_doc)
    with open(out_cfg, 'w') as f:
        f.write(text)
    # the file must say exactly what was meant (and load: custom_imports run)
    back = Config.fromfile(out_cfg)
    for key, value in sections.items():
        if _normalise(_plain(back.get(key))) != _normalise(value):
            raise ExportError(f'internal: {out_cfg} does not reproduce {key}; please report')
    return ExportResult(out_cfg, out_ckpt, which, sorted(imports), notes + data_notes)
