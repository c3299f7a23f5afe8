"""Diagnostics of pseudo-labels against unlabeled ground truth."""
from typing import Dict

import torch
from torch import Tensor

from ...evaluation import boundary_band


@torch.no_grad()
def pseudo_label_stats(label: Tensor, accept: Tensor, valid: Tensor,
                       gt: Tensor, ignore_index: int = 255,
                       prefix: str = 'pseudo.') -> Dict[str, Tensor]:
    """Share of accepted pixels and pseudo-label accuracy.

    For logging only: the caller never lets ``gt`` reach a loss.

    Args:
        label: ``(B, H, W)`` pseudo-labels.
        accept: ``(B, H, W)`` bool, pixels that pass the threshold.
        valid: ``(B, H, W)`` bool, real (non-padded, non-nodata) pixels.
        gt: ``(B, H, W)`` ground truth (``ignore_index`` where unknown).

    Returns:
        ``{prefix}acc`` (accuracy on accepted pixels with ground truth) and
        ``{prefix}acc_all`` (on all valid pixels with ground truth); the same
        split by region, where the paper locates the purifier's gain:
        ``{prefix}acc_boundary`` / ``acc_interior`` and
        ``{prefix}mask_ratio_boundary`` / ``mask_ratio_interior`` (share of
        the region's pixels accepted), the boundary band being the pixels
        within ``d`` px of a class edge of ``gt`` (``d`` from Boundary IoU's
        dilation ratio, :func:`semiearth.evaluation.boundary_band`). A key is
        left out when it has no pixel to count (rather than logging NaN).
    """
    has_gt = valid & (gt != ignore_index)
    correct = (label == gt) & has_gt
    stats = {}
    for key, pixels in (('acc', accept & has_gt), ('acc_all', has_gt)):
        if pixels.any():
            stats[prefix + key] = correct[pixels].float().mean()
    band = boundary_band(torch.where(valid, gt, torch.full_like(gt, ignore_index)),
                         ignore_index=ignore_index)
    for region, where in (('boundary', band), ('interior', ~band)):
        pixels = has_gt & where
        if pixels.any():
            stats[f'{prefix}mask_ratio_{region}'] = (accept & pixels).sum() / pixels.sum()
        if (accept & pixels).any():
            stats[f'{prefix}acc_{region}'] = correct[accept & pixels].float().mean()
    return stats
