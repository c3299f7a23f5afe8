"""Rules that purify teacher pseudo-labels with VLM class evidence.

A rule maps the teacher's probabilities ``probs`` (B, C, H, W) on the weak
view and the VLM's probabilities ``evidence`` (B, C, H, W) for the same
pixels (``has_evidence`` (B, H, W) marks pixels that have any) to
``(label, conf)`` (B, H, W). The segmentor's usual confidence threshold is
applied afterwards. Rules are pure tensor functions: no gradient, no ground
truth, no state.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class PaperPurifyRule:
    """The rule of the authors' released VLM-PP, kept for reproduction.

    The released VLM gives boxes turned into masks; each mask writes
    ``mask_logit`` (0.95) into its class channel and a softmax over channels
    gives ``q``. Here the masks are the VLM evidence's argmax regions
    (``q_from='masks'``, exact released arithmetic) or, as an ablation, ``q``
    is the evidence itself (``q_from='probs'``). Only pixels with teacher
    confidence ``c < tau_vlm`` change:

    - ``c < mismatch_thresh`` and ``argmax q != label``: label := argmax q,
      conf := max q;
    - otherwise ``conf := a * c + (1 - a) * q[label]`` with ``a = c / tau_vlm``.

    With masks, ``max q = e^0.95 / (e^0.95 + C - 1)`` (0.34 for 6 classes)
    and the fused confidence stays below ``tau_vlm``, so no touched pixel can
    reach a 0.95 threshold: as released, the rule never changes the loss.
    """

    def __init__(self, tau_vlm: float = 0.7, mismatch_thresh: float = 0.3,
                 mask_logit: float = 0.95, q_from: str = 'masks') -> None:
        if q_from not in ('masks', 'probs'):
            raise ValueError(f"q_from must be 'masks' or 'probs', got {q_from!r}")
        self.tau_vlm, self.mismatch_thresh = tau_vlm, mismatch_thresh
        self.mask_logit, self.q_from = mask_logit, q_from

    def q(self, evidence: Tensor) -> Tensor:
        if self.q_from == 'probs':
            return evidence
        masks = F.one_hot(evidence.max(dim=1).indices, evidence.shape[1]).permute(0, 3, 1, 2)
        return (masks.to(evidence.dtype) * self.mask_logit).softmax(dim=1)

    @torch.no_grad()
    def __call__(self, probs: Tensor, evidence: Tensor,
                 has_evidence: Tensor) -> Tuple[Tensor, Tensor]:
        conf, label = probs.max(dim=1)
        q = self.q(evidence)
        q_conf, q_label = q.max(dim=1)
        touch = (conf < self.tau_vlm) & has_evidence
        mismatch = touch & (conf < self.mismatch_thresh) & (q_label != label)
        a = conf / self.tau_vlm
        fused = a * conf + (1 - a) * q.gather(1, label[:, None])[:, 0]
        new_conf = torch.where(mismatch, q_conf, torch.where(touch, fused, conf))
        return torch.where(mismatch, q_label, label), new_conf

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(tau_vlm={self.tau_vlm}, mismatch_thresh='
                f'{self.mismatch_thresh}, mask_logit={self.mask_logit}, q_from={self.q_from!r})')


@MODELS.register_module()
class PoEPurifyRule:
    """Product of experts on the pixels the teacher would reject (ours).

    On pixels with teacher confidence ``c < conf_thresh`` (the segmentor's
    threshold: pixels that would not supervise the student anyway) and VLM
    confidence ``max q >= min_vlm_conf``::

        p'(k) ∝ p_teacher(k) * q(k) ** (1 / temperature)

    label := argmax p', conf := max p'. Everywhere else nothing changes.

    Why: if teacher and VLM err independently given the class and the
    prior is flat, Bayes' rule gives exactly this product; the temperature
    tempers a VLM whose probabilities are miscalibrated (dense CLIP is often
    over-confident and has its own biases). Agreement multiplies: a pixel
    where an unsure teacher (0.8) and the VLM (0.9) agree ends above 0.95
    and starts to supervise the student. Disagreement cancels: a confident
    VLM can overrule an unsure teacher, while an unsure VLM leaves the
    teacher's label and lowers its confidence. Pixels the teacher already
    accepts are never touched, so a poor VLM cannot corrupt the teacher's
    confident pseudo-labels; it can only add or relabel pixels below the
    threshold. How much that helps depends on the VLM's accuracy on those
    pixels: ``tools/analysis_tools/purification_study.py`` measures it.
    """

    def __init__(self, conf_thresh: float = 0.95, temperature: float = 1.0,
                 min_vlm_conf: float = 0.0, eps: float = 1e-6) -> None:
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        self.conf_thresh, self.temperature = conf_thresh, temperature
        self.min_vlm_conf, self.eps = min_vlm_conf, eps

    @torch.no_grad()
    def __call__(self, probs: Tensor, evidence: Tensor,
                 has_evidence: Tensor) -> Tuple[Tensor, Tensor]:
        conf, label = probs.max(dim=1)
        touch = (conf < self.conf_thresh) & has_evidence & \
            (evidence.max(dim=1).values >= self.min_vlm_conf)
        log_fused = probs.clamp_min(self.eps).log() + \
            evidence.clamp_min(self.eps).log() / self.temperature
        f_conf, f_label = log_fused.softmax(dim=1).max(dim=1)
        return torch.where(touch, f_label, label), torch.where(touch, f_conf, conf)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(conf_thresh={self.conf_thresh}, temperature='
                f'{self.temperature}, min_vlm_conf={self.min_vlm_conf})')
