"""The training crop of a wrapped config, written once by name.

A leaf defines ``crop_size`` and its pipelines (``RandomCrop``) and data
preprocessor (``size``, the size batches are padded to) read that name, as
mmseg's own configs do. MMEngine resolves names when it reads a config file,
so the crop is set in the leaf (or by ``--crop-size`` of the wrap tool), not by
``--cfg-options crop_size=...``, which would change the variable after every
pipeline has read it."""
from typing import Any, List, Optional, Sequence, Tuple

from .expressions import Ref

CROP = Ref('crop_size')
RESIZES = ('Resize', 'RandomResize', 'RandomChoiceResize', 'ResizeShortestEdge')


def _pair(value) -> Tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, (int, float)) else tuple(value)


def train_crop(pipeline: Sequence[dict], where: str) -> Optional[Tuple[int, int]]:
    """The crop of the training pipeline's ``RandomCrop`` (None without one;
    several different crops are an error: the leaf names one)."""
    crops = {_pair(t['crop_size']) for t in pipeline if t.get('type') == 'RandomCrop'}
    if len(crops) > 1:
        raise ValueError(f'{where}: the training pipeline crops {sorted(crops)}; a leaf '
                         'names one crop_size. Fix: one RandomCrop size.')
    return crops.pop() if crops else None


def _scaled(value: Any, factor: float) -> Any:
    """A resize scale (or list of scales) times ``factor``."""
    if isinstance(value, (int, float)):
        return max(1, round(value * factor))
    return type(value)(_scaled(v, factor) for v in value)


def recropped(pipeline: Sequence[dict], old: Tuple[int, int], new: Tuple[int, int],
              where: str) -> List[dict]:
    """The pipeline at crop ``new``: its resizes' scales times ``new / old``
    (the images keep their size relative to the crop), its crops ``new``."""
    if new[0] * old[1] != new[1] * old[0]:
        raise ValueError(f'{where}: --crop-size {new} does not keep the aspect ratio of the '
                         f'crop {old}, so its resize scales cannot follow it. Fix: a crop '
                         f'with the aspect ratio of {old}.')
    factor = new[0] / old[0]
    out = []
    for step in pipeline:
        step = dict(step)
        if step.get('type') in RESIZES:
            for key in ('scale', 'scales'):
                if key in step:
                    step[key] = _scaled(step[key], factor)
        if step.get('type') == 'RandomCrop':
            step['crop_size'] = tuple(new)
        out.append(step)
    return out


def crop_by_name(node: Any, crop: Tuple[int, int]) -> Any:
    """``node`` (pipelines, nested) with every ``RandomCrop`` of ``crop``
    reading the name ``crop_size``."""
    if isinstance(node, list):
        return [crop_by_name(v, crop) for v in node]
    if isinstance(node, dict):
        node = {k: crop_by_name(v, crop) for k, v in node.items()}
        if node.get('type') == 'RandomCrop' and _pair(node['crop_size']) == tuple(crop):
            node['crop_size'] = CROP
        return node
    return node
