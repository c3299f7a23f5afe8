"""UniMatch (Yang et al., CVPR 2023; LiheYoung/UniMatch ``unimatch.py``)."""
from typing import Dict, Tuple

import torch
from mmseg.registry import MODELS
from torch import Tensor

from ...utils import step_generator
from ..utils import cat_features, channel_dropout
from .base_semi_method import BaseSemiMethod


@MODELS.register_module()
class UniMatch(BaseSemiMethod):
    """Unified dual-stream perturbations, with no EMA teacher.

    Pseudo-labels come from the online student: from its train-mode
    prediction on the weak view (the same forward as the labeled images,
    detached), and for the pixels CutMix pastes, from an eval-mode pass
    over the weak view (the anchor labels its CutMix partners so). Two
    strong views, each with its own boxes; a feature-perturbed weak stream:
    ``Dropout2d(p)`` on the backbone features, decoded beside the clean
    ones. The purifier is called once, on both predictions stacked
    (docs/fidelity.md says why).
    ``L = sup_weight * L_x + unsup_weight * (w1 L_s1 + w2 L_s2 + w3 L_fp)``;
    UniMatch: ``(L_x + 0.25 L_s1 + 0.25 L_s2 + 0.5 L_fp) / 2``.

    Args:
        loss_weights: ``(w1, w2, w3)``: shares of ``unsup_weight`` of the
            two strong views and the feature-perturbed weak view.
        fp_dropout: the feature perturbation's channel dropout probability.
    """
    branches = ('sup', 'unsup_weak', 'unsup_strong', 'unsup_strong2')

    def __init__(self, loss_weights: Tuple[float, float, float] = (0.25, 0.25, 0.5),
                 fp_dropout: float = 0.5) -> None:
        self.loss_weights = tuple(loss_weights)
        self.fp_dropout = fp_dropout

    def loss(self, seg, inputs: Dict[str, Tensor], data_samples: dict) -> Dict[str, Tensor]:
        x_sup, x_weak = inputs['sup'], inputs['unsup_weak']
        weak_samples = data_samples['unsup_weak']
        n, b = x_sup.shape[0], x_weak.shape[0]

        # 1. the CutMix partners' labels: the student in eval mode, no grad
        probs_eval = seg.online_probs(x_weak)

        # 2. student on labeled + weak, clean and feature-perturbed together
        feats = seg.student.extract_feat(torch.cat([x_sup, x_weak]))
        perturbed = channel_dropout(feats, self.fp_dropout,
                                    generator=step_generator('feature_dropout'))
        logits, logits_fp = seg.student.decode_head(
            cat_features(feats, perturbed)).chunk(2)
        probs = seg.probs(seg.student, x_weak, logits[n:].detach())

        # 3. one purifier call on both predictions; split them again
        both = seg.pseudo_labels(torch.cat([probs, probs_eval]), x_weak, weak_samples)
        targets, partners = both.take(0, b), both.take(b, 2 * b)
        losses = dict(both.log)

        # 4. strong views: own boxes, pasted targets from the eval pass
        x_s1, *target_s1 = seg.mix(inputs['unsup_strong'], targets, 'cutmix', partners)
        x_s2, *target_s2 = seg.mix(inputs['unsup_strong2'], targets, 'cutmix_s2', partners)
        logits_s = seg.student.decode_head(seg.student.extract_feat(torch.cat([x_s1, x_s2])))

        # 5. losses
        losses.update(seg.sup_loss(feats, logits[:n], data_samples['sup']))
        w1, w2, w3 = self.loss_weights
        unsup_weight = seg.semi_train_cfg['unsup_weight']
        losses['unsup.loss_ce_s1'] = seg.unsup_loss(logits_s[:b], *target_s1) * \
            (unsup_weight * w1)
        losses['unsup.loss_ce_s2'] = seg.unsup_loss(logits_s[b:], *target_s2) * \
            (unsup_weight * w2)
        losses['unsup.loss_ce_fp'] = seg.unsup_loss(
            logits_fp[n:], targets.label, targets.conf, targets.valid) * (unsup_weight * w3)
        losses.update(seg.diagnostics(targets, weak_samples))
        return losses

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(loss_weights={self.loss_weights}, '
                f'fp_dropout={self.fp_dropout})')
