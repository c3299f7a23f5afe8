"""mmseg's IoUMetric that also returns each class's IoU."""
from typing import Dict

import numpy as np
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class ClassWiseIoUMetric(IoUMetric):
    """:class:`mmseg.evaluation.IoUMetric` plus ``IoU.<class>`` entries.

    mmseg prints the per-class table but returns only the means, so per-class
    IoU never reaches the scalar logs, the test JSON or ``Runner.test()``'s
    return value. This metric returns them as ``IoU.<class name>`` (percent,
    NaN where a class is neither in the ground truth nor predicted), computed
    from the same accumulated areas as the means.
    """

    def compute_metrics(self, results: list) -> Dict[str, float]:
        metrics = super().compute_metrics(results)
        if self.format_only:
            return metrics
        intersect = sum(r[0] for r in results).cpu().numpy().astype(np.float64)
        union = sum(r[1] for r in results).cpu().numpy().astype(np.float64)
        with np.errstate(divide='ignore', invalid='ignore'):
            iou = intersect / union
        for name, value in zip(self.dataset_meta['classes'], iou):
            metrics[f'IoU.{name}'] = float(np.round(value * 100, 2))
        return metrics
