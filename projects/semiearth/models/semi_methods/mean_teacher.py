"""Mean Teacher with CutMix (French et al., BMVC 2020;
Britefury/cutmix-semisup-seg ``train_seg_semisup_mask_mt.py``)."""
from typing import Dict

import torch
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..losses import MeanTeacherConsistencyLoss
from .base_semi_method import BaseSemiMethod
from .training_progress import training_progress


@MODELS.register_module()
class MeanTeacher(BaseSemiMethod):
    """The EMA teacher's softmax on the unlabeled images, CutMixed, is the
    target of the student's softmax on the CutMixed images: a squared-error
    consistency loss (:class:`MeanTeacherConsistencyLoss`) under the
    anchor's confidence mask, with threshold ``semi_train_cfg.conf_thresh``
    (the anchor's runs: 0.97) and its batch-mean form unless
    ``conf_per_pixel``.

    With a purifier, the mask is the purified confidence, and pixels whose
    label the purifier changed are left out (the target stays the teacher's
    distribution, which votes for the class the purifier rejected; see
    docs/fidelity.md). ``L = sup_weight * L_x + unsup_weight * L_cons``
    (the anchor: ``L_x + cons_weight * L_cons``, ``cons_weight = 1``).

    Args:
        student_view: the branch the student sees CutMixed: ``'unsup_weak'``
            (the anchor: the teacher's own images) or ``'unsup_strong'``
            (FixMatch's photometric view, same geometry).
        conf_per_pixel: mask per pixel instead of the batch-mean mask.
        rampup_length: sigmoid ramp-up of the loss, in iterations (0: off,
            the anchor's runs).
    """
    branches = ('sup', 'unsup_weak')  # and student_view, per instance

    def __init__(self, student_view: str = 'unsup_weak', conf_per_pixel: bool = False,
                 rampup_length: int = 0) -> None:
        if student_view not in ('unsup_weak', 'unsup_strong'):
            raise ValueError(f"MeanTeacher student_view must be 'unsup_weak' or "
                             f"'unsup_strong', got {student_view!r}")
        self.student_view = student_view
        self.branches = tuple(dict.fromkeys(('sup', 'unsup_weak', student_view)))
        self.conf_per_pixel = conf_per_pixel
        self.rampup_length = rampup_length
        self.consistency = None

    def setup(self, seg) -> Dict[str, nn.Module]:
        if seg.adaptive_thresh is not None:
            raise ValueError('MeanTeacher masks with one threshold (semi_train_cfg.'
                             'conf_thresh); remove semi_train_cfg.adaptive_thresh.')
        self.consistency = MeanTeacherConsistencyLoss(
            conf_thresh=seg.semi_train_cfg['conf_thresh'],
            conf_per_pixel=self.conf_per_pixel, rampup_length=self.rampup_length)
        return {}

    def loss(self, seg, inputs: Dict[str, Tensor], data_samples: dict) -> Dict[str, Tensor]:
        x_sup, x_weak = inputs['sup'], inputs['unsup_weak']
        weak_samples = data_samples['unsup_weak']

        # 1. teacher probabilities and pseudo-labels on the weak view, through the purifier
        with torch.no_grad():
            probs = seg._teacher_probs(x_weak)
        targets = seg.pseudo_labels(probs, x_weak, weak_samples)
        losses = dict(targets.log)

        # 2. CutMix the student's view, the targets and the teacher's softmax alike
        x_mix, label, conf, valid, target = seg.mix(inputs[self.student_view], targets,
                                                    'cutmix', also=(probs,))

        # 3. one student forward on labeled + mixed views (shared BN)
        feats = seg.student.extract_feat(torch.cat([x_sup, x_mix]))
        logits = seg.student.decode_head(feats)
        n = x_sup.shape[0]

        # 4. losses
        losses.update(seg.sup_loss(feats, logits[:n], data_samples['sup']))
        logits_u = resize(logits[n:], size=label.shape[-2:], mode='bilinear',
                          align_corners=seg.align_corners)
        step = training_progress()[0] if self.rampup_length > 0 else 0
        loss_u = self.consistency(logits_u, target, label, conf, valid, step)
        losses['unsup.loss_cons'] = loss_u * seg.semi_train_cfg['unsup_weight']
        losses.update(seg.diagnostics(targets, weak_samples))
        return losses

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(student_view={self.student_view!r}, '
                f'conf_per_pixel={self.conf_per_pixel}, rampup_length={self.rampup_length})')
