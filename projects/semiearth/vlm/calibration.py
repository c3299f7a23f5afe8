"""The VLM's calibration: its confusion on the labeled set,
``P(VLM says j | true class k)``, measured once and stored beside the
evidence cache (``calibration.json``) for :class:`CalibratedPurifyRule`.

:func:`calibrate` is the one place that measures and writes it; the
evidence hook, ``tools/precompute_vlm.py`` and the step benchmark call it."""
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from .evidence_cache import EvidenceCache, cache_key, write_calibration


def confusion_counts(vlm_label: Tensor, gt: Tensor, num_classes: int,
                     ignore_index: int = 255) -> Tensor:
    """``(C, C)`` counts of labeled pixels: row = true class, column = the
    VLM's class; ``ignore_index`` pixels skipped."""
    valid = gt != ignore_index
    pairs = gt[valid].long() * num_classes + vlm_label[valid].long()
    counts = torch.bincount(pairs.flatten().cpu(), minlength=num_classes ** 2)
    return counts.view(num_classes, num_classes).double()


def normalize_confusion(counts: Tensor, smoothing: float = 1.0) -> Tensor:
    """Rows of counts -> ``P(VLM says j | true k)``, each cell plus
    ``smoothing`` (a class with few pixels stays close to uniform: no
    evidence)."""
    counts = counts.double() + smoothing
    return (counts / counts.sum(dim=1, keepdim=True)).float()


def fit_confusion(vlm_label: Tensor, gt: Tensor, num_classes: int,
                  smoothing: float = 1.0, ignore_index: int = 255) -> Tensor:
    """``P(VLM says j | true class k)`` as a ``(C, C)`` matrix (row ``k``),
    from labeled pixels (:func:`confusion_counts`, :func:`normalize_confusion`)."""
    return normalize_confusion(confusion_counts(vlm_label, gt, num_classes, ignore_index),
                               smoothing)


def measure_confusion(cache: EvidenceCache, labeled: Sequence[dict]) -> Tensor:
    """``(C, C)`` pixel counts (row: true class, column: the VLM's class) of
    the cached evidence of every labeled item (``img_path``,
    ``gt_seg_map``), read as training reads it (:meth:`EvidenceCache.sample`
    at every pixel)."""
    counts = torch.zeros(cache.num_classes, cache.num_classes, dtype=torch.float64)
    for i in range(len(labeled)):
        item = labeled[i]
        gt = torch.from_numpy(np.asarray(item['gt_seg_map']))
        h, w = gt.shape
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                                torch.arange(w, dtype=torch.float32), indexing='ij')
        evidence, _ = cache.sample([item['img_path']], [(h, w)], torch.stack([xs, ys])[None])
        counts += confusion_counts(evidence[0].max(dim=0).indices, gt, cache.num_classes)
    return counts


def calibrate(cache: EvidenceCache, labeled: Sequence[dict],
              smoothing: float = 1.0, keys: Optional[Sequence[str]] = None) -> Tensor:
    """Measure the VLM's confusion on ``labeled`` from the cached maps
    (:func:`measure_confusion`) and write ``calibration.json`` into the
    cache, tied to the VLM's fingerprint and the labeled images' keys.
    Returns the counts (rows: true class)."""
    counts = measure_confusion(cache, labeled)
    if keys is None:
        keys = [cache_key(labeled[i]['img_path']) for i in range(len(labeled))]
    write_calibration(cache.cache_dir, cache.fingerprint, cache.class_keys, sorted(keys),
                      normalize_confusion(counts, smoothing), counts.sum(dim=1).tolist())
    return counts


def per_class_accuracy(counts: Tensor) -> Tensor:
    """The VLM's accuracy on each true class's labeled pixels."""
    return counts.diagonal() / counts.sum(dim=1).clamp(min=1)
