"""The data and runtime sections of an exported config, in mmseg terms.

SemiEarth's datasets (``RSSegDataset`` and subclasses) are mmseg's
``BaseSegDataset`` plus up-front checks, so they become ``BaseSegDataset``
with suffixes, prefixes and classes/palette spelled out;
``LoadRSImageFromFile`` becomes mmcv's ``LoadImageFromFile`` with the decoder
it picks itself; ``CheckSegLabels`` (a sanity check with no mmseg
counterpart) is dropped; ``ClassWiseIoUMetric`` becomes mmseg's ``IoUMetric``
(same mIoU). Each change is returned as a note for the config's comments.
"""
import copy
from typing import Any, Dict, List, Tuple

from mmengine.config import Config
from mmseg.registry import DATASETS

from .plain_model import to_plain

TIFF_SUFFIXES = ('.tif', '.tiff')


def types_in(value: Any) -> List[str]:
    """Every ``type`` string in a config tree (scope prefixes removed)."""
    found = []
    if isinstance(value, dict):
        t = value.get('type')
        if isinstance(t, str):
            found.append(t.split('.')[-1])
        for v in value.values():
            found += types_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            found += types_in(v)
    return found


def plain_pipeline(pipeline: List[dict], img_suffix: str) -> Tuple[List[dict], List[str]]:
    """A test pipeline in mmseg/mmcv transforms, and notes."""
    out, notes = [], []
    for t in to_plain(pipeline):
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


def _rs_dataset(dataset: dict, notes: List[str]):
    """The SemiEarth dataset object of ``dataset`` (built lazily, without
    data_root, to read its effective defaults without touching the disk), or
    None when it is not one or cannot be written as ``BaseSegDataset``."""
    from ..datasets import RSSegDataset
    cls = DATASETS.get(dataset.get('type'))
    if cls is None or not issubclass(cls, RSSegDataset):
        return None
    kwargs = {k: v for k, v in dataset.items() if k not in ('type', 'pipeline')}
    kwargs.update(data_root=None, pipeline=[], lazy_init=True)
    obj = cls(**kwargs)
    if obj.label_map is not None:
        notes.append(f'{dataset["type"]} kept: its metainfo selects a class subset')
        return None  # BaseSegDataset could not remap it
    return obj


def plain_dataset(dataset: dict) -> Tuple[dict, List[str]]:
    """A SemiEarth ``RSSegDataset`` (or subclass) config as mmseg's
    ``BaseSegDataset``; other datasets unchanged (pipeline converted)."""
    dataset = to_plain(dataset)
    notes: List[str] = []
    obj = _rs_dataset(dataset, notes)
    suffix = (obj.img_suffix if obj is not None else dataset.get('img_suffix', '')) or ''
    pipeline, pipe_notes = plain_pipeline(dataset.get('pipeline', []), suffix)
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


def plain_evaluator(evaluator: Any, ours: Dict[str, str]) -> Tuple[Any, List[str]]:
    """``ClassWiseIoUMetric`` -> mmseg's ``IoUMetric`` (same arguments); other
    SemiEarth metrics (``ours``: SemiEarth's type names; e.g.
    ``BoundaryIoUMetric``) dropped, since mmseg has no counterpart; notes."""
    evaluator = to_plain(evaluator)
    metrics = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
    kept, notes = [], []
    for metric in metrics:
        if isinstance(metric, dict) and metric.get('type') == 'ClassWiseIoUMetric':
            metric['type'] = 'IoUMetric'
        elif set(types_in(metric)) & set(ours):
            notes.append(f"{metric['type']} dropped (SemiEarth's metric; mmseg has none)")
            continue
        kept.append(metric)
    if not isinstance(evaluator, (list, tuple)):
        return (kept[0] if kept else dict(type='IoUMetric', iou_metrics=['mIoU'])), notes
    return (kept if kept else [dict(type='IoUMetric', iou_metrics=['mIoU'])]), notes


def plain_data_cfg(cfg: Config, ours: Dict[str, str]) -> Tuple[dict, List[str]]:
    """``test_pipeline``, ``{test,val}_{dataloader,evaluator}`` in mmseg terms
    (``ours``: SemiEarth's type names, see :func:`plain_evaluator`).

    Raises ValueError when there is no test pipeline to write."""
    out: Dict[str, Any] = {}
    notes: List[str] = []
    for split in ('test', 'val'):
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        loader = to_plain(loader)
        loader['dataset'], ds_notes = plain_dataset(loader['dataset'])
        notes += [n for n in ds_notes if n not in notes]
        out[f'{split}_dataloader'] = loader
        if cfg.get(f'{split}_evaluator'):
            out[f'{split}_evaluator'], ev_notes = plain_evaluator(cfg[f'{split}_evaluator'],
                                                                  ours)
            notes += [n for n in ev_notes if n not in notes]
    source = out.get('test_dataloader') or out.get('val_dataloader')
    if source is not None:
        # what mmseg.apis.inference_model runs (first transform = loading)
        out['test_pipeline'] = copy.deepcopy(source['dataset']['pipeline'])
    else:
        out['test_pipeline'], pipe_notes = plain_pipeline(cfg.get('test_pipeline', []), '')
        notes += pipe_notes
    if not out['test_pipeline']:
        raise ValueError(
            f'{cfg.filename}: no test_dataloader, val_dataloader or test_pipeline; '
            "mmseg's inference_model needs a test pipeline. Fix: add test_pipeline "
            '(loading transform first, PackSegInputs last) to the config.')
    return out, notes


def plain_runtime_cfg(cfg: Config, ours: Dict[str, str]) -> dict:
    """What mmseg's ``tools/test.py`` needs besides model and data; the
    source config's hooks and visualizer where they use none of ``ours``
    (SemiEarth's type names)."""
    hooks = dict(timer=dict(type='IterTimerHook'),
                 logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
                 visualization=dict(type='SegVisualizationHook'))
    for name in hooks:
        theirs = (cfg.get('default_hooks') or {}).get(name)
        if theirs and not set(types_in(to_plain(theirs))) & set(ours):
            hooks[name] = to_plain(theirs)
    visualizer = to_plain(cfg.get('visualizer') or {})
    if not visualizer or set(types_in(visualizer)) & set(ours):
        visualizer = dict(type='SegLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                          name='visualizer')
    return dict(
        default_hooks=hooks,
        visualizer=visualizer,
        env_cfg=to_plain(cfg.get('env_cfg') or dict(cudnn_benchmark=False)),
        log_processor=to_plain(cfg.get('log_processor') or dict(by_epoch=False)),
        log_level=cfg.get('log_level', 'INFO'),
        test_cfg=dict(type='TestLoop'),
        val_cfg=dict(type='ValLoop'),
    )
