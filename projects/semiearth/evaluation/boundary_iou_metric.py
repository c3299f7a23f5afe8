"""Boundary IoU as an mmseg metric, per class and mean."""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.registry import METRICS

from .boundary import DILATION_RATIO, boundary_width, class_boundaries


def boundary_areas(pred: np.ndarray, gt: np.ndarray, num_classes: int,
                   dilation_ratio: float = DILATION_RATIO,
                   ignore_index: int = 255) -> np.ndarray:
    """``(3, num_classes)`` int64 counts of one image: per class ``k``, the
    pixels of ``(G_d & G) & (P_d & P)``, of ``G_d & G`` and of ``P_d & P``
    (``G = gt == k``, ``P = pred == k`` on pixels with ground truth,
    boundaries as the reference's ``mask_to_boundary`` with ``d`` from the
    image's diagonal; see :class:`BoundaryIoUMetric` for ignored pixels)."""
    if pred.shape != gt.shape:
        raise ValueError(f'BoundaryIoUMetric: prediction {pred.shape} and ground truth '
                         f'{gt.shape} differ in size; the metric needs the full-image '
                         'prediction (mmseg resizes it to the ground truth in predict)')
    d = boundary_width(gt.shape, dilation_ratio)
    valid = gt != ignore_index
    pred = np.where(valid, pred, ignore_index)
    g_edge = class_boundaries(gt, d, ignore_index)
    p_edge = class_boundaries(pred, d, ignore_index)
    both = g_edge & p_edge & (gt == pred)
    count = [np.bincount(x[m], minlength=num_classes)[:num_classes]
             for x, m in ((gt, both), (gt, g_edge), (pred, p_edge))]
    return np.stack(count).astype(np.int64)


@METRICS.register_module()
class BoundaryIoUMetric(BaseMetric):
    """Boundary IoU (Cheng et al., CVPR 2021) of semantic segmentation.

    For each class ``k``, over the whole evaluation set::

        BoundaryIoU_k = sum |(G_d & G) & (P_d & P)| / sum |(G_d & G) | (P_d & P)|

    with ``G`` / ``P`` the ground-truth / predicted mask of ``k`` in an image,
    ``X_d & X`` its inner boundary: the pixels of ``X`` within ``d`` px
    (chessboard distance) of a pixel outside ``X`` or of the image border,
    ``d = max(1, round(dilation_ratio * image diagonal))`` per image, exactly
    as ``mask_to_boundary`` of the reference code (bowenc0221/boundary-iou-api,
    ``boundary_iou/utils/boundary_utils.py``). Intersections and unions are
    summed over images before dividing, as :class:`mmseg.evaluation.IoUMetric`
    sums areas. Returns ``mBoundaryIoU`` (the mean over classes with a
    non-empty union, percent) and ``BoundaryIoU.<class>`` (percent; NaN for a
    class with no boundary pixel in the ground truth or the prediction).

    Ignored and nodata pixels (ground truth ``ignore_index``): as in
    ``IoUMetric``, they are removed from both masks before anything else
    (the prediction there is set to ``ignore_index`` too), so they are in no
    class's mask, no boundary, no intersection and no union. Their edge is
    treated like the image border: a class pixel within ``d`` px of an ignored
    pixel is a boundary pixel of its class in both ``G`` and ``P`` alike (the
    reference pads the image with "outside" for the same reason: a mask cut
    off by the border has a boundary there).

    Sliding-window inference: the metric reads ``pred_sem_seg``, the
    full-image prediction mmseg assembles from the windows and resizes to
    the ground truth, so ``d`` comes from the whole image's diagonal, not a
    window's. Prediction and ground truth must have the same size.

    Use it beside ``IoUMetric`` in a list::

        val_evaluator = [dict(type='IoUMetric', iou_metrics=['mIoU']),
                         dict(type='BoundaryIoUMetric')]

    Args:
        dilation_ratio: the band width as a share of the image diagonal
            (the reference's default 0.02).
        ignore_index: the ground truth's ignore / nodata value.
    """

    def __init__(self, dilation_ratio: float = DILATION_RATIO, ignore_index: int = 255,
                 collect_device: str = 'cpu', prefix: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if kwargs:
            raise TypeError(f'BoundaryIoUMetric got unknown arguments {sorted(kwargs)}')
        if not 0 < dilation_ratio < 1:
            raise ValueError(f'dilation_ratio must lie in (0, 1), got {dilation_ratio}')
        self.dilation_ratio, self.ignore_index = dilation_ratio, ignore_index

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        num_classes = len(self.dataset_meta['classes'])
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze(0).cpu().numpy()
            gt = sample['gt_sem_seg']['data'].squeeze(0).cpu().numpy()
            self.results.append(boundary_areas(pred, gt, num_classes, self.dilation_ratio,
                                               self.ignore_index))

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        inter, g_area, p_area = np.sum(results, axis=0).astype(np.float64)
        union = g_area + p_area - inter
        with np.errstate(divide='ignore', invalid='ignore'):
            biou = inter / union
        classes = self.dataset_meta['classes']
        metrics = OrderedDict(mBoundaryIoU=float(np.round(np.nanmean(biou) * 100, 2))
                              if np.isfinite(biou).any() else float('nan'))
        for name, value in zip(classes, biou):
            metrics[f'BoundaryIoU.{name}'] = float(np.round(value * 100, 2))
        rows = ', '.join(f'{n} {metrics[f"BoundaryIoU.{n}"]:.2f}' for n in classes)
        print_log(f'Boundary IoU (dilation ratio {self.dilation_ratio}) per class: {rows}',
                  logger=MMLogger.get_current_instance())
        return metrics
