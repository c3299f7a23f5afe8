"""The CutMix Mean Teacher consistency loss pinned to its anchor:
Britefury/cutmix-semisup-seg @ af6183a (French et al., BMVC 2020).

The anchor's formulas are written out below as its code computes them, read
from ``train_seg_semisup_mask_mt.py``:

- l.346-351, 363-367: the box mask ``m`` (1 inside the box) mixes the
  student's images and the valid masks ``um``; the teacher's logits of the
  two unmixed batches are mixed with ``m``, then softmax;
- l.406-418: ``conf_tea = max(prob_tea)``, ``conf_mask = (conf_tea >=
  conf_thresh)``, averaged over the whole batch unless ``conf_per_pixel``;
  ``loss_mask = um_mixed * conf_mask``;
- l.428-431 (``cons_loss_fn='var'``, the default): ``sum_c (p_stu -
  p_tea)^2``;
- l.451-458: ``(cons * loss_mask).mean()``, times ``sigmoid_rampup(epoch,
  rampup)`` when ``rampup > 0`` (l.263-266), times ``cons_weight``;
- ``architectures/network_architectures.py`` l.122-130 ``sigmoid_rampup``:
  ``exp(-5 (1 - clip(t, 0, T) / T)^2)``, 1 for ``T == 0``;
- defaults l.621-625 and the CutMix runs (``run_pascal_aug_experiments.sh``
  l.22): ``conf_thresh=0.97``, ``cons_weight=1``, ``conf_per_pixel`` off,
  ``rampup=-1``.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semiearth.models.losses import MeanTeacherConsistencyLoss, sigmoid_rampup

B, C, H, W = 3, 5, 12, 16


# ---------------------------------------------------------------- the anchor
def anchor_sigmoid_rampup(current, rampup_length):
    if rampup_length == 0:
        return 1.0
    current = np.clip(current, 0.0, rampup_length)
    phase = 1.0 - current / rampup_length
    return float(np.exp(-5.0 * phase * phase))


def anchor_consistency(logits_u0_tea, logits_u1_tea, logits_cons_stu, mix, um0, um1,
                       conf_thresh, conf_per_pixel, rampup, epoch, cons_weight):
    """l.346-367 and l.404-458 for one unsupervised batch (mix mode)."""
    ramp_val = anchor_sigmoid_rampup(epoch, rampup) if rampup > 0 else 1.0
    um_mixed = um0 * (1 - mix) + um1 * mix
    logits_cons_tea = logits_u0_tea * (1 - mix) + logits_u1_tea * mix
    prob_tea = F.softmax(logits_cons_tea, dim=1)
    prob_stu = F.softmax(logits_cons_stu, dim=1)
    loss_mask = um_mixed
    if conf_thresh > 0.0:
        conf_tea = prob_tea.max(dim=1)[0]
        conf_mask = (conf_tea >= conf_thresh).float()[:, None, :, :]
        if not conf_per_pixel:
            conf_mask = conf_mask.mean()
        loss_mask = loss_mask * conf_mask
    delta = prob_stu - prob_tea
    cons = (delta * delta).sum(dim=1, keepdim=True)
    cons = (cons * loss_mask).mean()
    if rampup > 0:
        cons = cons * ramp_val
    return cons * cons_weight


# ------------------------------------------------------------------ inputs
def inputs(seed=0, sharp=6.0):
    g = torch.Generator().manual_seed(seed)
    t0 = torch.randn(B, C, H, W, generator=g) * sharp
    t1 = torch.randn(B, C, H, W, generator=g) * sharp
    stu = torch.randn(B, C, H, W, generator=g, requires_grad=True)
    mix = torch.zeros(B, 1, H, W)
    mix[:, :, 2:9, 3:11] = 1  # one box, the same for every sample here
    mix[1, :, :, :] = 0
    mix[1, :, 0:6, :] = 1
    return t0, t1, stu, mix


def ours(t0, t1, stu, mix, valid=None, step=0, **cfg):
    """The way a method's step uses the loss: teacher probabilities mixed
    with the box (CutMix of targets mixes probabilities; the anchor mixes
    logits, the same for a 0/1 mask, l.360-362)."""
    m = mix[:, 0].bool()
    target = torch.where(m[:, None], t1.softmax(1), t0.softmax(1))
    if valid is None:
        valid = torch.ones(B, H, W, dtype=torch.bool)
    conf, label = target.max(dim=1)
    return MeanTeacherConsistencyLoss(**cfg)(stu, target, label, conf, valid, step)


@pytest.mark.parametrize('per_pixel', [False, True])
@pytest.mark.parametrize('rampup,epoch', [(-1, 0), (10, 0), (10, 3), (10, 12)])
def test_loss_matches_the_anchor(per_pixel, rampup, epoch):
    t0, t1, stu, mix = inputs()
    one = torch.ones(B, 1, H, W)
    ref = anchor_consistency(t0, t1, stu, mix, one, one, 0.97, per_pixel, rampup, epoch, 1.0)
    got = ours(t0, t1, stu, mix, step=epoch, conf_per_pixel=per_pixel,
               rampup_length=max(rampup, 0))
    assert float(ref) > 0
    assert abs(float(got) - float(ref)) < 1e-6
    g_ref, = torch.autograd.grad(ref, stu)
    g_got, = torch.autograd.grad(got, stu)
    assert torch.allclose(g_got, g_ref, atol=1e-9, rtol=1e-5)


def test_threshold_weight_and_no_mask_match_the_anchor():
    t0, t1, stu, mix = inputs(1)
    one = torch.ones(B, 1, H, W)
    for thresh, weight in ((0.5, 2.0), (0.0, 0.3)):
        ref = anchor_consistency(t0, t1, stu, mix, one, one, thresh, True, -1, 0, weight)
        got = ours(t0, t1, stu, mix, conf_thresh=thresh, conf_per_pixel=True,
                   loss_weight=weight)
        assert abs(float(got) - float(ref)) < 1e-6


def test_confident_share_scales_the_batch_mean_mask():
    """Default (the anchor's): every pixel weighted by the confident share."""
    t0, t1, stu, mix = inputs(2)
    target = torch.where(mix.bool(), t1.softmax(1), t0.softmax(1))
    share = float((target.max(1)[0] >= 0.97).float().mean())
    assert 0 < share < 1
    loss = MeanTeacherConsistencyLoss()
    conf, label = target.max(1)
    mask = loss.mask(target, label, conf, torch.ones(B, H, W, dtype=torch.bool))
    assert torch.allclose(mask, torch.full_like(mask, share))


def test_padded_pixels_leave_the_sum_and_the_divisor():
    """Documented difference: the anchor divides by all pixels (l.451), we by
    the valid ones, so ours = anchor x all / valid (per-pixel mask)."""
    t0, t1, stu, mix = inputs(3)
    valid = torch.ones(B, H, W, dtype=torch.bool)
    valid[:, -4:] = False
    um = valid[:, None].float()
    ref = anchor_consistency(t0, t1, stu, mix, um, um, 0.97, True, -1, 0, 1.0)
    got = ours(t0, t1, stu, mix, valid=valid, conf_per_pixel=True)
    assert abs(float(got) - float(ref) * valid.numel() / valid.sum()) < 1e-6


def test_sigmoid_rampup_matches_the_anchor():
    for length in (0, 1, 5, 40):
        for t in (0, 0.5, 1, 3, 5, 39, 40, 100):
            assert abs(sigmoid_rampup(t, length) - anchor_sigmoid_rampup(t, length)) < 1e-12
    assert sigmoid_rampup(7, -1) == 1.0


def test_purified_confidences_alone_move_the_loss():
    """The purifier's entry point is the mask: the same labels with other
    confidences give another loss, per pixel and as the batch share; a pixel
    whose label the purifier changed leaves the loss."""
    t0, t1, stu, mix = inputs(4)
    target = torch.where(mix.bool(), t1.softmax(1), t0.softmax(1))
    conf, label = target.max(1)
    valid = torch.ones(B, H, W, dtype=torch.bool)
    raised = torch.where(conf < 0.97, torch.full_like(conf, 0.98), conf)
    for per_pixel in (True, False):
        loss = MeanTeacherConsistencyLoss(conf_per_pixel=per_pixel)
        a = loss(stu, target, label, conf, valid)
        b = loss(stu, target, label, raised, valid)
        assert float(b) > float(a) > 0
    relabelled = label.clone()
    relabelled[0] = (label[0] + 1) % C
    loss = MeanTeacherConsistencyLoss(conf_per_pixel=True)
    mask = loss.mask(target, relabelled, torch.ones_like(conf), valid)
    assert torch.count_nonzero(mask[0]) == 0 and bool((mask[1:] == 1).all())


def test_bad_threshold_is_refused():
    with pytest.raises(ValueError, match='conf_thresh'):
        MeanTeacherConsistencyLoss(conf_thresh=1.0)
