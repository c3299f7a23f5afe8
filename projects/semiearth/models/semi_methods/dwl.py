"""DWL, decoupled weighting learning (zhu-xlab/RS-DWL ``train.py`` method 'DWL')."""
from typing import Dict, Optional

import torch
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..heads import attach_pseudo_classifier, forward_dual
from ..losses import DWLWeighting, dwl_unsup_loss
from .base_semi_method import BaseSemiMethod
from .training_progress import training_progress


@MODELS.register_module()
class DWL(BaseSemiMethod):
    """FixMatch's step with DWL's two changes, as the anchor runs it:

    - pseudo-labels from the online model (train mode, no gradient; the
      anchor has no EMA teacher) on the weak view, weighted per pixel by
      class-wise confidence bins (:class:`DWLWeighting`, in
      ``seg.method_modules['weighting']``) instead of a hard threshold; no
      unsupervised loss during its warm-up; no CutMix;
    - the strong view trained through a pseudo-label classifier beside the
      main one (:func:`attach_pseudo_classifier` on the student's and the
      teacher's decode heads), merged into the main classifier by
      ``ClassifierMergeHook``.

    With a purifier, its labels and confidences replace the model's before
    the weighting: the memories, the bins and the weights see the purified
    confidences. ``L = sup_weight * L_x + unsup_weight * L_u`` (the anchor:
    ``L_x + L_u``). The schedule position comes from the Runner
    (:func:`training_progress`).

    Args:
        weighting: :class:`DWLWeighting` settings besides ``num_classes``
            (``memory_batches``, ``memory_size``, ``num_bins``,
            ``warmup_iters``).
    """
    branches = ('sup', 'unsup_weak', 'unsup_strong')

    def __init__(self, weighting: Optional[dict] = None) -> None:
        self.weighting = dict(weighting or {})

    def setup(self, seg) -> Dict[str, nn.Module]:
        attach_pseudo_classifier(seg.student.decode_head)
        attach_pseudo_classifier(seg.teacher.decode_head)  # the EMA pairs them
        return dict(weighting=DWLWeighting(seg.student.decode_head.num_classes,
                                           **self.weighting))

    def loss(self, seg, inputs: Dict[str, Tensor], data_samples: dict) -> Dict[str, Tensor]:
        x_sup, x_weak, x_strong = inputs['sup'], inputs['unsup_weak'], inputs['unsup_strong']
        weak_samples = data_samples['unsup_weak']

        # 1. online pseudo-labels on the weak view, through the purifier
        with torch.no_grad():
            probs = seg.probs(seg.student, x_weak)
        targets = seg.pseudo_labels(probs, x_weak, weak_samples)
        losses = dict(targets.log)

        # 2. class-wise weights; the memories take this batch's (purified) confidences
        iters, total_iters = training_progress()
        weight = seg.method_modules['weighting'](targets.label, targets.conf, targets.valid,
                                                 iters, total_iters)

        # 3. one student forward: labeled through the main classifier,
        #    strong view through the pseudo-label classifier
        feats = seg.student.extract_feat(torch.cat([x_sup, x_strong]))
        logits, logits_pseudo = forward_dual(seg.student.decode_head, feats)
        n = x_sup.shape[0]

        # 4. losses
        losses.update(seg.sup_loss(feats, logits[:n], data_samples['sup']))
        logits_u = resize(logits_pseudo[n:], size=targets.label.shape[-2:], mode='bilinear',
                          align_corners=seg.align_corners)
        loss_u = dwl_unsup_loss(logits_u, targets.label, weight, targets.valid)
        losses['unsup.loss_dwl'] = loss_u * seg.semi_train_cfg['unsup_weight']
        losses['dwl.mean_weight'] = (weight.sum() / targets.valid.sum().clamp(min=1)).detach()
        losses.update(seg.diagnostics(targets, weak_samples))
        return losses

    def __repr__(self) -> str:
        return f'{type(self).__name__}(weighting={self.weighting})'
