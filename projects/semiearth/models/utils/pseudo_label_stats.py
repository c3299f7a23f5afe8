"""Diagnostics of pseudo-labels against unlabeled ground truth."""
from typing import Dict

import torch
from torch import Tensor


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
        ``{prefix}acc_all`` (on all valid pixels with ground truth); a key is
        left out when it has no pixel to count (rather than logging NaN).
    """
    has_gt = valid & (gt != ignore_index)
    correct = (label == gt) & has_gt
    stats = {}
    for key, pixels in (('acc', accept & has_gt), ('acc_all', has_gt)):
        if pixels.any():
            stats[prefix + key] = correct[pixels].float().mean()
    return stats
