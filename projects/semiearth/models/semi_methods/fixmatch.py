"""FixMatch with an EMA teacher, as UniMatch-V2 runs it (its ``fixmatch.py``)."""
from typing import Dict

import torch
from mmseg.registry import MODELS
from torch import Tensor

from .base_semi_method import BaseSemiMethod


@MODELS.register_module()
class FixMatch(BaseSemiMethod):
    """Teacher pseudo-labels on the weak view supervise the student on one
    CutMixed strong view: ``sup_weight * L_x + unsup_weight * L_s``
    (UniMatch-V2: ``(L_x + L_s) / 2``). The teacher is the student's EMA
    (:class:`EMATeacherHook`)."""

    def loss(self, seg, inputs: Dict[str, Tensor], data_samples: dict) -> Dict[str, Tensor]:
        x_sup, x_weak, x_strong = inputs['sup'], inputs['unsup_weak'], inputs['unsup_strong']
        weak_samples = data_samples['unsup_weak']

        # 1. teacher pseudo-labels on the weak view, through the purifier
        with torch.no_grad():
            probs = seg._teacher_probs(x_weak)
        targets = seg.pseudo_labels(probs, x_weak, weak_samples)
        losses = dict(targets.log)

        # 2. CutMix the strong view and its targets with the same boxes
        x_strong, label, conf, valid = seg.mix(x_strong, targets, 'cutmix')

        # 3. one student forward on labeled + strong views (shared BN)
        feats = seg.student.extract_feat(torch.cat([x_sup, x_strong]))
        logits = seg.student.decode_head(feats)
        n = x_sup.shape[0]

        # 4. losses
        losses.update(seg.sup_loss(feats, logits[:n], data_samples['sup']))
        loss_s = seg.unsup_loss(logits[n:], label, conf, valid)
        losses['unsup.loss_ce'] = loss_s * seg.semi_train_cfg['unsup_weight']
        losses.update(seg.diagnostics(targets, weak_samples))
        return losses
