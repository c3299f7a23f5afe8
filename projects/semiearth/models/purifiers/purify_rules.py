"""Rules that purify teacher pseudo-labels with VLM class evidence.

A rule is called as ``rule(probs, evidence, has_evidence, thresh)``: the
teacher's probabilities ``probs`` (B, C, H, W) on the weak view, the VLM's
probabilities ``evidence`` (B, C, H, W) for the same pixels,
``has_evidence`` (B, H, W) marking pixels that have any, and ``thresh``
(B, H, W), the confidence each teacher pseudo-label needs to supervise the
student (the segmentor's threshold: fixed or self-adaptive; a rule never
carries a copy of it). It returns ``(label, conf)`` (B, H, W); the
segmentor's threshold is applied afterwards. Rules are pure tensor
functions: no gradient, no ground truth, and no state that changes: every
parameter is fixed at construction. :class:`CalibratedPurifyRule` without a
confusion matrix cannot be called; :class:`VLMPurifyHead` builds a new one
with the measured matrix before its first use.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor


def released_vlm_map(masks: Tensor, mask_logit: float = 0.95) -> Tensor:
    """The released VLM-PP's map ``q`` from per-class masks ``(B, C, H, W)``.

    As the release builds it from SAM masks: every mask writes
    ``mask_logit`` into its class channel (masks of one class overlapping
    keep ``mask_logit``: a maximum, not a sum), then a softmax over
    channels. So a pixel in one mask gets ``e^0.95 / (e^0.95 + C - 1)``
    there (0.341 for 6 classes), in two masks of different classes 0.282 on
    each, and a pixel outside every mask ``1 / C`` on every class. An image
    with no mask at all gets ``q = 0`` everywhere (no softmax), which fails
    the rule's gate: it is not purified.
    """
    q = (masks > 0).to(torch.float32).mul(mask_logit).softmax(dim=1)
    detected = (masks > 0).flatten(1).any(dim=1)
    return torch.where(detected[:, None, None, None], q, torch.zeros_like(q))


@MODELS.register_module()
class PaperPurifyRule:
    """The rule of the authors' released VLM-PP, kept for reproduction.

    The release gets per-class masks (Qwen2.5-VL boxes, SAM masks) and forms
    ``q`` with :func:`released_vlm_map`. Where the masks come from:

    - ``q_from='masks'`` (default): the dense VLM evidence's argmax regions
      (one mask per pixel); pixels without evidence are left alone;
    - ``q_from='binary'``: ``evidence`` already holds the per-class masks
      (any value > 0 is inside), free-form as the release's: gaps,
      overlaps, images with no mask; ``has_evidence`` is not used, the
      masks say it all;
    - ``q_from='probs'`` (an ablation, not the release): ``q`` is the dense
      evidence itself; pixels without evidence are left alone.

    Then, with ``c`` / ``y`` the teacher's confidence / label and the
    release's gate ``max q > gate`` (strict), in this order:

    - mismatch: ``c < mismatch_thresh`` and ``c < tau_vlm`` and ``argmax q
      != y`` and the gate: ``y := argmax q``, ``c := max q``;
    - otherwise, where ``c < tau_vlm`` and the gate holds: ``c := a * c +
      (1 - a) * q[y]`` with ``a = c / tau_vlm`` (``y`` the teacher's label).

    Ties in ``argmax q`` go to the lowest class index, as ``torch.argmax``:
    in an image with masks, a pixel outside all of them has ``q = 1 / C``,
    passes the gate for ``C < 10`` and counts as detected class 0, so with
    ``c < 0.3`` it is relabelled 0 (the release does this too).

    ``max q <= e^0.95 / (e^0.95 + C - 1)`` (0.34 for 6 classes) and the
    fused confidence stays below ``tau_vlm``, so no touched pixel can reach
    a 0.95 threshold: as released, the rule never changes the loss. The
    segmentor's threshold (``thresh``) is not used: the release gates on
    ``tau_vlm`` only. Not reproduced on purpose: the release reuses an
    earlier batch's masks every other step (``qwen_inference_interval=2``).
    """

    Q_SOURCES = ('masks', 'binary', 'probs')

    def __init__(self, tau_vlm: float = 0.7, mismatch_thresh: float = 0.3,
                 mask_logit: float = 0.95, gate: float = 0.1,
                 q_from: str = 'masks') -> None:
        if q_from not in self.Q_SOURCES:
            raise ValueError(f'q_from must be one of {self.Q_SOURCES}, got {q_from!r}')
        self.tau_vlm, self.mismatch_thresh = tau_vlm, mismatch_thresh
        self.mask_logit, self.gate, self.q_from = mask_logit, gate, q_from

    def q(self, evidence: Tensor) -> Tensor:
        """The VLM map ``q`` (B, C, H, W) the release's rule reads."""
        if self.q_from == 'probs':
            return evidence
        if self.q_from == 'binary':
            return released_vlm_map(evidence, self.mask_logit)
        masks = F.one_hot(evidence.max(dim=1).indices, evidence.shape[1]).permute(0, 3, 1, 2)
        return released_vlm_map(masks, self.mask_logit)

    @torch.no_grad()
    def __call__(self, probs: Tensor, evidence: Tensor, has_evidence: Tensor,
                 thresh: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        conf, label = probs.max(dim=1)
        q = self.q(evidence).to(probs.dtype)
        q_conf, q_label = q.max(dim=1)
        touch = (conf < self.tau_vlm) & (q_conf > self.gate)
        if self.q_from != 'binary':
            touch &= has_evidence
        mismatch = touch & (conf < self.mismatch_thresh) & (q_label != label)
        a = conf / self.tau_vlm
        fused = a * conf + (1 - a) * q.gather(1, label[:, None])[:, 0]
        new_conf = torch.where(mismatch, q_conf, torch.where(touch, fused, conf))
        return torch.where(mismatch, q_label, label), new_conf

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(tau_vlm={self.tau_vlm}, mismatch_thresh='
                f'{self.mismatch_thresh}, mask_logit={self.mask_logit}, gate={self.gate}, '
                f'q_from={self.q_from!r})')


@MODELS.register_module()
class PoEPurifyRule:
    """Product of experts on the pixels the teacher would reject (ours).

    On pixels with teacher confidence ``c < thresh`` (the segmentor's
    threshold for the teacher's label: pixels that would not supervise the
    student anyway) and VLM confidence ``max q >= min_vlm_conf``::

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

    def __init__(self, temperature: float = 1.0, min_vlm_conf: float = 0.0,
                 eps: float = 1e-6) -> None:
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        self.temperature, self.min_vlm_conf, self.eps = temperature, min_vlm_conf, eps

    @torch.no_grad()
    def __call__(self, probs: Tensor, evidence: Tensor, has_evidence: Tensor,
                 thresh: Tensor) -> Tuple[Tensor, Tensor]:
        conf, label = probs.max(dim=1)
        touch = (conf < thresh) & has_evidence & \
            (evidence.max(dim=1).values >= self.min_vlm_conf)
        log_fused = probs.clamp_min(self.eps).log() + \
            evidence.clamp_min(self.eps).log() / self.temperature
        f_conf, f_label = log_fused.softmax(dim=1).max(dim=1)
        return torch.where(touch, f_label, label), torch.where(touch, f_conf, conf)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(temperature={self.temperature}, '
                f'min_vlm_conf={self.min_vlm_conf})')


@MODELS.register_module()
class CalibratedPurifyRule:
    """Fuse the VLM as a likelihood measured on the labeled set (ours).

    The VLM's reliability is measured where the truth is known: on the
    labeled images, ``confusion[k, j] = P(VLM says j | true class k)``
    (:func:`semiearth.vlm.calibration.calibrate`, written by
    ``tools/precompute_vlm.py`` or :class:`VLMEvidenceHook`, given by
    :class:`VLMPurifyHead`). On the pixels the teacher would reject (``c <
    thresh``, the segmentor's threshold) that have evidence, with ``j`` the
    VLM's class there::

        p'(k) ∝ p_teacher(k) * confusion[k, j]

    label := argmax p', conf := max p'; everywhere else nothing changes.
    This is Bayes' rule with the VLM's answer as the observation and its
    measured likelihood, so the evidence carries exactly the weight it
    earned, class by class: a VLM whose answer does not depend on the true
    class (``confusion[k, j]`` the same for every ``k``) changes nothing; one
    that is right on some classes moves pixels towards those classes only;
    a systematic confusion (shrubland called forest) is read back correctly.
    Unlike :class:`PoEPurifyRule` it cannot trust a VLM more than the
    labeled set shows it deserves.

    Args:
        confusion: ``(C, C)`` matrix, or None in a config (the purifier
            then builds the rule again with the measured matrix).
    """

    needs_calibration = True

    def __init__(self, confusion: Optional[Sequence[Sequence[float]]] = None) -> None:
        self.confusion = None if confusion is None else \
            torch.as_tensor(confusion, dtype=torch.float32)

    @torch.no_grad()
    def __call__(self, probs: Tensor, evidence: Tensor, has_evidence: Tensor,
                 thresh: Tensor) -> Tuple[Tensor, Tensor]:
        if self.confusion is None:
            raise RuntimeError(
                'CalibratedPurifyRule has no calibration: run tools/precompute_vlm.py CONFIG '
                '(it measures the VLM on the labeled images) before training')
        c = probs.shape[1]
        if self.confusion.shape != (c, c):
            raise ValueError(f'calibration is {tuple(self.confusion.shape)} for {c} classes: '
                             're-run tools/precompute_vlm.py')
        conf, label = probs.max(dim=1)
        said = evidence.max(dim=1).indices                              # (B, H, W)
        likelihood = self.confusion.to(probs.device).t()[said]          # (B, H, W, C)
        post = probs * likelihood.permute(0, 3, 1, 2).to(probs.dtype)
        post = post / post.sum(dim=1, keepdim=True).clamp_min(1e-12)
        p_conf, p_label = post.max(dim=1)
        touch = (conf < thresh) & has_evidence
        return torch.where(touch, p_label, label), torch.where(touch, p_conf, conf)

    def __repr__(self) -> str:
        shape = None if self.confusion is None else tuple(self.confusion.shape)
        return f'{type(self).__name__}(confusion={shape})'
