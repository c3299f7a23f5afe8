"""UniMatch V2 (Yang et al., TPAMI 2025; LiheYoung/UniMatch-V2 ``unimatch_v2.py``)."""
from typing import Dict, Tuple

import torch
from mmseg.registry import MODELS
from torch import Tensor

from ...utils import step_generator
from ..utils import complementary_channel_dropout
from .base_semi_method import BaseSemiMethod


@MODELS.register_module()
class UniMatchV2(BaseSemiMethod):
    """FixMatch with an EMA teacher plus two strong views and complementary
    channel dropout.

    Both strong views (each with its own photometric draw in the data
    pipeline and its own CutMix box here) are labelled from the one teacher
    prediction on the weak view; one student forward runs over labeled +
    both views, with the views' backbone features multiplied by
    complementary channel masks (:func:`complementary_channel_dropout`).
    ``L = sup_weight * L_x + unsup_weight * (w1 * L_s1 + w2 * L_s2)``;
    UniMatch-V2: ``(L_x + (L_s1 + L_s2) / 2) / 2``.

    Args:
        view_weights: ``(w1, w2)``, the share of ``unsup_weight`` of each
            strong view.
        kept_ratio: share of the image pairs whose features are not dropped.
    """
    branches = ('sup', 'unsup_weak', 'unsup_strong', 'unsup_strong2')

    def __init__(self, view_weights: Tuple[float, float] = (0.5, 0.5),
                 kept_ratio: float = 0.5) -> None:
        self.view_weights = tuple(view_weights)
        self.kept_ratio = kept_ratio

    def loss(self, seg, inputs: Dict[str, Tensor], data_samples: dict) -> Dict[str, Tensor]:
        x_sup, x_weak = inputs['sup'], inputs['unsup_weak']
        weak_samples = data_samples['unsup_weak']

        # 1. teacher pseudo-labels on the weak view, through the purifier
        with torch.no_grad():
            probs = seg._teacher_probs(x_weak)
        targets = seg.pseudo_labels(probs, x_weak, weak_samples)
        losses = dict(targets.log)

        # 2. each strong view CutMixed with its own boxes, same targets
        x_s1, *target_s1 = seg.mix(inputs['unsup_strong'], targets, 'cutmix')
        x_s2, *target_s2 = seg.mix(inputs['unsup_strong2'], targets, 'cutmix_s2')

        # 3. one student forward; complementary dropout on the views' features
        n, b = x_sup.shape[0], x_weak.shape[0]
        feats = seg.student.extract_feat(torch.cat([x_sup, x_s1, x_s2]))
        dropped = complementary_channel_dropout(
            feats, offset=n, num_pairs=b, kept_ratio=self.kept_ratio,
            generator=step_generator('comp_drop'))
        logits = seg.student.decode_head(dropped)

        # 4. losses
        losses.update(seg.sup_loss(feats, logits[:n], data_samples['sup']))
        w1, w2 = self.view_weights
        unsup_weight = seg.semi_train_cfg['unsup_weight']
        losses['unsup.loss_ce_s1'] = seg.unsup_loss(logits[n:n + b], *target_s1) * \
            (unsup_weight * w1)
        losses['unsup.loss_ce_s2'] = seg.unsup_loss(logits[n + b:], *target_s2) * \
            (unsup_weight * w2)
        losses.update(seg.diagnostics(targets, weak_samples))
        return losses

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(view_weights={self.view_weights}, '
                f'kept_ratio={self.kept_ratio})')
