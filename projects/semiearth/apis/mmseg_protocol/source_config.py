"""The mmseg config being wrapped: where it is, and what its training set
is (dataset class, suffixes, classes, normalisation)."""
import inspect
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.config import Config


def resolve_config(spec: str) -> str:
    """The file of ``spec``: ``mmseg::<path under mmseg's configs/>`` (the
    zoo as installed with mmseg) or a path."""
    if '::' in spec:
        package, _, rel = spec.partition('::')
        if package != 'mmseg':
            raise ValueError(f"config {spec!r}: only 'mmseg::' zoo paths are known here. "
                             'Fix: give the path of the config file instead.')
        from mmengine.utils import get_installed_path
        path = osp.join(get_installed_path('mmseg'), '.mim', 'configs', rel)
        if not osp.isfile(path):
            import mmseg
            raise FileNotFoundError(
                f"config {spec!r}: mmseg {mmseg.__version__} has no '{rel}' under its "
                "configs/. Fix: name a file of mmseg's configs/ as in its repository, "
                'e.g. mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_potsdam-512x512.py.')
        return path
    if not osp.isfile(spec):
        raise FileNotFoundError(f"config '{spec}' does not exist.")
    return spec


def strip_scope(obj):
    """A plain copy without mmengine's ``_scope_='mmseg'`` marks (mmseg is
    the default scope of every config here)."""
    if isinstance(obj, dict):
        return {k: strip_scope(v) for k, v in obj.items()
                if not (k == '_scope_' and v == 'mmseg')}
    if isinstance(obj, (list, tuple)):
        return type(obj)(strip_scope(v) for v in obj)
    return obj


def dataset_class(ds_cfg: dict, where: str):
    """The mmseg dataset class of a training-set config; a dataset wrapper
    (no single image folder to split) is an error naming the fix."""
    from mmseg.datasets import BaseSegDataset
    from mmseg.registry import DATASETS
    cls = DATASETS.get(ds_cfg.get('type')) if isinstance(ds_cfg.get('type'), str) else None
    if cls is None or not issubclass(cls, BaseSegDataset):
        raise ValueError(
            f"{where}: train_dataloader.dataset is {ds_cfg.get('type')!r}, not one mmseg "
            'segmentation dataset (a BaseSegDataset such as PotsdamDataset). A dataset '
            'wrapper (ConcatDataset, RepeatDataset, ...) has no single image folder to '
            'split. Fix: wrap a config that trains on one dataset, or write the labeled '
            'and unlabeled datasets of a SemiDataset by hand (docs/mmseg_zoo.md).')
    return cls


def dataset_defaults(ds_cfg: dict, where: str = 'config') -> dict:
    """img_suffix, seg_map_suffix and reduce_zero_label of a dataset config:
    its own values, else its class's defaults."""
    cls = dataset_class(ds_cfg, where)
    keys = ('img_suffix', 'seg_map_suffix', 'reduce_zero_label')
    out = {}
    for c in cls.__mro__:
        if '__init__' not in vars(c):
            continue
        for name, p in inspect.signature(c.__init__).parameters.items():
            if name in keys and name not in out and p.default is not inspect.Parameter.empty:
                out[name] = p.default
    out.update({k: ds_cfg[k] for k in keys if k in ds_cfg})
    return out


def dataset_classes(ds_cfg: dict, where: str) -> List[str]:
    """The class names of a training-set config (its metainfo, else its
    class's)."""
    classes = list(dataset_class(ds_cfg, where).METAINFO.get('classes', ()))
    return list((ds_cfg.get('metainfo') or {}).get('classes') or classes)


def check_iter_based(cfg: Config, where: str) -> None:
    """The semi-supervised sampler and loops are iteration based."""
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_iters' not in train_cfg:
        raise ValueError(
            f"{where}: train_cfg is {train_cfg.get('type')!r} without max_iters; the "
            'semi-supervised sampler and loops are iteration based (an endless stream '
            'of labeled + unlabeled batches). Fix: wrap an IterBasedTrainLoop config.')


def normalisation(cfg: Config, where: str) -> dict:
    """The model's RGB input normalisation (the purifier's VLM un-normalises
    the segmentor's input with it): ``input_mean``, ``input_std``,
    ``rgb_bands``."""
    dp = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    mean, std = dp.get('mean'), dp.get('std')
    if mean is None or std is None or len(mean) != 3:
        raise ValueError(
            f"{where}: the model's data_preprocessor has mean {mean} / std {std}; SemiEarth's "
            "VLM reads RGB images and un-normalises them with the segmentor's 3-band mean "
            'and std. Fix: give model.data_preprocessor mean and std (3 values each).')
    rgb = (0, 1, 2) if dp.get('bgr_to_rgb') else (2, 1, 0)
    return dict(input_mean=list(mean), input_std=list(std), rgb_bands=rgb)


def ready_class_names(classes: Sequence[str]) -> Optional[str]:
    """The ready VLM class-name list whose classes are ``classes`` (in
    order), or None."""
    from ...vlm.class_names import RS_CLASS_NAMES
    for name, table in RS_CLASS_NAMES.items():
        if list(table) == list(classes):
            return name
    return None
