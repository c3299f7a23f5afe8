"""Mean Teacher with CutMix: the consistency loss of French et al., "Semi-
supervised semantic segmentation needs strong, varied perturbations" (BMVC
2020; Britefury/cutmix-semisup-seg ``train_seg_semisup_mask_mt.py``).

The student's softmax on the CutMixed image is pulled towards the teacher's
softmax, mixed with the same box (``cons_loss_fn='var'``: squared error
summed over classes), under a confidence mask on the teacher's max
probability (``conf_thresh``, 0.97 in the paper's runs). By default the mask
is averaged over the batch (``conf_per_pixel=False``, the code's default and
the paper's runs): every pixel is weighted by the share of confident pixels.
An optional sigmoid ramp-up ``exp(-5 (1 - t / T)^2)`` scales the loss.

The purifier enters through the mask: :func:`confidence_mask` and
:class:`MeanTeacherConsistencyLoss` take ``(label, conf)`` from whatever
produced them (the teacher's argmax / max softmax, or the purifier). The
target stays the teacher's distribution; a pixel whose label the purifier
changed is left out (the teacher's distribution votes for the class the
purifier rejected).
"""
import math
from typing import Optional, Union

import torch
from mmseg.registry import MODELS
from torch import Tensor, nn


def sigmoid_rampup(current: float, length: float) -> float:
    """``exp(-5 (1 - min(max(current, 0), length) / length)^2)``; 1 when
    ``length <= 0`` (no ramp-up, the code's default ``rampup=-1``).

    The anchor steps ``current`` once per epoch; pass ``iter //
    iters_per_epoch`` for its steps or the iteration for a smooth ramp."""
    if length <= 0:
        return 1.0
    phase = 1.0 - min(max(float(current), 0.0), float(length)) / length
    return float(math.exp(-5.0 * phase * phase))


def confidence_mask(target: Tensor, label: Tensor, conf: Tensor, valid: Tensor,
                    conf_thresh: float, per_pixel: bool) -> Tensor:
    """Loss mask ``(B, H, W)`` of the consistency loss.

    Args:
        target: ``(B, C, H, W)`` teacher probabilities (CutMixed).
        label, conf: ``(B, H, W)`` pseudo-label and confidence of each pixel
            (the teacher's argmax / max of ``target``, or the purifier's).
        valid: ``(B, H, W)`` real pixels (the anchor's ``batch_um``).
        conf_thresh: ``conf >= conf_thresh`` is confident; 0 disables the
            mask (the anchor's ``conf_thresh > 0`` switch).
        per_pixel: mask each pixel (``conf_per_pixel``), else weight every
            valid pixel by the share of confident valid pixels.
    """
    keep = valid & (label == target.argmax(dim=1))
    if conf_thresh <= 0:
        return keep.float()
    confident = (conf >= conf_thresh) & keep
    if per_pixel:
        return confident.float()
    share = confident.sum() / valid.sum().clamp(min=1)
    return keep.float() * share


def consistency_loss(student_logits: Tensor, target: Tensor, mask: Tensor,
                     valid: Tensor) -> Tensor:
    """``sum(mask * sum_c (softmax(student) - target)^2) / valid pixels``.

    The anchor (l.428-431, 451) takes the mean over all pixels of the batch;
    here the divisor is the valid pixels, as in the project's FixMatch step
    (the same number when every pixel is valid)."""
    delta = student_logits.softmax(dim=1) - target
    per_pixel = (delta * delta).sum(dim=1)
    return (per_pixel * mask).sum() / valid.sum().clamp(min=1)


@MODELS.register_module()
class MeanTeacherConsistencyLoss(nn.Module):
    """The CutMix Mean Teacher consistency loss, one call per step::

        loss_u = mt_loss(student_logits, teacher_probs, label, conf, valid, step)

    Args:
        conf_thresh: teacher confidence a pixel needs (anchor: 0.97 in every
            CutMix run, ``run_*_experiments.sh``); 0 disables the mask.
        conf_per_pixel: mask per pixel; the anchor's default (False) scales
            the whole loss by the share of confident pixels.
        rampup_length: length of the sigmoid ramp-up in the unit of ``step``
            (the anchor counts epochs; its runs leave it off: -1).
        loss_weight: the anchor's ``cons_weight`` (1.0).
    """

    def __init__(self, conf_thresh: float = 0.97, conf_per_pixel: bool = False,
                 rampup_length: float = 0, loss_weight: float = 1.0) -> None:
        super().__init__()
        if not 0 <= conf_thresh < 1:
            raise ValueError(f'MeanTeacherConsistencyLoss conf_thresh must be in [0, 1), '
                             f'got {conf_thresh} (0 switches the mask off)')
        self.conf_thresh = conf_thresh
        self.conf_per_pixel = conf_per_pixel
        self.rampup_length = rampup_length
        self.loss_weight = loss_weight

    def mask(self, target: Tensor, label: Tensor, conf: Tensor, valid: Tensor) -> Tensor:
        """:func:`confidence_mask` with this loss's settings."""
        return confidence_mask(target, label, conf, valid, self.conf_thresh,
                               self.conf_per_pixel)

    def forward(self, student_logits: Tensor, target: Tensor, label: Optional[Tensor],
                conf: Optional[Tensor], valid: Tensor,
                step: Union[int, float] = 0) -> Tensor:
        """The weighted, ramped consistency loss.

        Args:
            student_logits: ``(B, C, H, W)`` on the mixed strong view, at
                the target's size.
            target: ``(B, C, H, W)`` teacher softmax mixed with the same box.
            label, conf: ``(B, H, W)``; None takes the target's argmax / max.
            valid: ``(B, H, W)`` bool.
            step: position in the ramp-up (see :func:`sigmoid_rampup`).
        """
        if label is None or conf is None:
            conf, label = target.max(dim=1)
        mask = self.mask(target, label, conf, valid)
        loss = consistency_loss(student_logits, target.detach(), mask, valid)
        return loss * sigmoid_rampup(step, self.rampup_length) * self.loss_weight
