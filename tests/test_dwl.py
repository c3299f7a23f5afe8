"""DWL's weighting pinned to its anchor: zhu-xlab/RS-DWL @ fe6504b
(``train.py`` last changed in 2b7708e).

The anchor's formulas are written out below as the anchor computes them
(lists of per-batch tensors, the (N, num_bins) comparison), read from:

- ``train.py`` l.72-73: every class memory starts as ``[torch.ones(1, C)]``;
- ``train.py`` l.145-179 (method 'DWL'): softmax of the weak view,
  ``max_prob, pl = max(prob)``; ``memory_n_batches = 50``; probabilities and
  pseudo-labels nearest-resized to 64 x 64 (l.159-162); ``update_cls_memory``
  (l.165), ``sample_cls_bins`` (l.167), ``calc_wgt_bins(bins, max_prob, pl,
  iters, total_iters)`` at full resolution (l.172), ``loss_u = (CE(reduction
  'none') * wgt).mean()`` (l.173-174), ``loss_u *= 0`` unless ``iters > 50``
  (l.175-178), ``loss = loss_l + loss_u`` (l.179), ``loss_l`` =
  ``F.cross_entropy(logit_l, gt_l, ignore_index=255)`` (l.105);
- ``utils/util.py`` l.85-100 ``update_cls_memory``, l.103-121
  ``sample_cls_bins`` (20 bins), l.132-145 ``calc_wgt_bins`` (``k = iters /
  total_iters * 20 + 2``, ``1 / (1 + exp(-k w)) * 2 - 1``);
- ``train.py`` l.253-255: DeepLabV3+ merge ``param = pseudo * 0.5 + param *
  0.5`` after each epoch.
"""
import io

import pytest
import torch
import torch.nn.functional as F
from mmengine.runner.checkpoint import load_state_dict as mmengine_load_state_dict
from mmengine.runner.checkpoint import weights_to_cpu

from semiearth.models.heads import attach_pseudo_classifier
from semiearth.models.losses import DWLWeighting, bin_weights, dwl_unsup_loss

C, B, H, W = 4, 1, 40, 56
TOTAL = 200


# ---------------------------------------------------------------- the anchor
def anchor_update_cls_memory(cls_memory, pred, label, memory_n_batches):
    for i in range(pred.shape[1]):
        if (label == i).sum() > 0:
            pred_i = pred[label == i]
            if len(cls_memory[i]) < memory_n_batches:
                cls_memory[i].append(pred_i)
            else:
                cls_memory[i].pop(0)
                cls_memory[i].append(pred_i)
    return cls_memory


def anchor_sample_cls_bins(cls_memory, num_bins=20):
    cls_bins = torch.ones(len(cls_memory), num_bins)
    for i in range(len(cls_memory)):
        if len(cls_memory[i]) != 0:
            mem = torch.cat(cls_memory[i], dim=0)[:, i]
            srt, _ = torch.sort(mem)
            idx = torch.linspace(0, len(srt) - 1, num_bins + 1).round().long()
            cls_bins[i] = srt[idx[1:]]
    return cls_bins


def anchor_calc_wgt_bins(cls_bins, probs, labels, iters, total_iters):
    num_bins = cls_bins.size(1)
    exts = cls_bins[labels]
    w = ((probs.unsqueeze(-1) > exts).sum(dim=-1)).clip(0, num_bins) / num_bins
    k = iters / total_iters * 20 + 2
    return 1 / (1 + torch.exp(-k * w)) * 2 - 1


def anchor_dwl_step(mem, logit_l, gt_l, logit_uw, logit_us, iters, total_iters, size=64):
    """``train.py`` l.103-105 and l.145-179 for one batch; returns
    (loss, loss_u, weights). ``size``: the anchor's 64 (l.159-162), smaller
    only to keep the 70-step test fast."""
    loss_l = F.cross_entropy(logit_l, gt_l, ignore_index=255)
    prob_uw = torch.softmax(logit_uw, dim=1)
    max_prob, pl = torch.max(prob_uw, dim=1)
    prob_bar = F.interpolate(prob_uw, size=(size, size), mode='nearest')
    prob_bar = prob_bar.permute(0, 2, 3, 1).reshape(-1, C)
    pl_bar = F.interpolate(pl.float().unsqueeze(1), size=(size, size), mode='nearest')
    pl_bar = pl_bar.squeeze(1).reshape(-1).long()
    anchor_update_cls_memory(mem, prob_bar, pl_bar, 50)
    bins = anchor_sample_cls_bins(mem)
    wgt = anchor_calc_wgt_bins(bins, max_prob.reshape(-1), pl.reshape(-1), iters, total_iters)
    logit_us = logit_us.permute(0, 2, 3, 1).reshape(-1, C)
    ce = F.cross_entropy(logit_us, pl.reshape(-1), ignore_index=255, reduction='none')
    loss_u = (ce * wgt).mean()
    loss_u = loss_u * (1 if iters > 50 else 0)
    return loss_l + loss_u, loss_u, wgt.reshape(B, H, W)


# ------------------------------------------------------------------ inputs
def batch(step):
    """Logits of one step; class 3 is absent from the odd steps' pseudo-labels
    and the confidences vary, so the memories hold unequal entries."""
    g = torch.Generator().manual_seed(step)
    logit_uw = torch.randn(B, C, H, W, generator=g) * (1 + step % 3)
    if step % 2:
        logit_uw[:, 3] -= 30
    logit_us = torch.randn(B, C, H, W, generator=g, requires_grad=True)
    logit_l = torch.randn(B, C, H, W, generator=g)
    gt_l = torch.randint(0, C, (B, H, W), generator=g)
    gt_l[:, :3] = 255
    return logit_l, gt_l, logit_uw, logit_us


def ours_step(dwl, logit_l, gt_l, logit_uw, logit_us, iters):
    """The way a method's step uses the parts (sup + unsup, no / 2)."""
    conf, label = logit_uw.softmax(dim=1).max(dim=1)
    valid = torch.ones_like(label, dtype=torch.bool)
    weight = dwl(label, conf, valid, iters, TOTAL)
    loss_u = dwl_unsup_loss(logit_us, label, weight, valid)
    loss_l = F.cross_entropy(logit_l, gt_l, ignore_index=255)
    return loss_l + loss_u, loss_u, weight


def test_weights_and_loss_match_the_anchor_over_70_steps():
    """Weights, loss_u and l + u agree with the anchor at every step: through
    the 50-batch warm-up, the memories filling and then dropping their
    oldest entries (class 3 fills more slowly). A 32 x 32 memory grid for
    both (sorting the 64 x 64 memories takes seconds here); the anchor's 64
    is checked in the next test."""
    mem = {i: [torch.ones(1, C)] for i in range(C)}
    dwl = DWLWeighting(C, memory_size=(32, 32))
    seen_nonzero = False
    for it in range(70):
        inputs = batch(it)
        ref_loss, ref_u, ref_w = anchor_dwl_step(mem, *inputs, it, TOTAL, size=32)
        loss, loss_u, w = ours_step(dwl, *inputs, it)
        conf, label = inputs[2].softmax(dim=1).max(dim=1)
        # the weights before the warm-up gate, at every step
        assert torch.allclose(bin_weights(dwl.bins(), conf, label, it, TOTAL), ref_w,
                              atol=1e-6, rtol=0), it
        if it > 50:
            assert torch.allclose(w, ref_w, atol=1e-6, rtol=0), it
        else:  # the anchor multiplies loss_u by 0, we the weights
            assert torch.count_nonzero(w) == 0 and float(ref_u) == 0
        assert abs(float(loss_u) - float(ref_u)) < 1e-6, it
        assert abs(float(loss) - float(ref_loss)) < 1e-6, it
        seen_nonzero |= float(loss_u) > 0
        if it == 60:  # the gradient reaching the strong view's logits
            ref_grad, = torch.autograd.grad(ref_u, inputs[3])
            grad, = torch.autograd.grad(loss_u, inputs[3])
            assert torch.allclose(grad, ref_grad, atol=1e-9, rtol=1e-5)
        for c in range(C):
            assert int((dwl.memory_counts[c] > 0).sum()) == len(mem[c])
            if it in (49, 69):
                ref = torch.cat(mem[c])[:, c]
                assert torch.equal(dwl.class_values(c).sort().values, ref.sort().values)
    assert seen_nonzero
    # the memories are full and dropped their seed entry of 1.0
    assert all(len(mem[c]) == 50 for c in range(3)) and 30 < len(mem[3]) < 50
    assert float(dwl.bins()[0, -1]) < 1.0


def test_a_batch_of_several_images_matches_the_anchor():
    """Several images per batch, with the memory seeded and filling."""
    global B
    mem = {i: [torch.ones(1, C)] for i in range(C)}
    dwl = DWLWeighting(C, warmup_iters=-1)
    B, saved = 3, B
    try:
        for it in range(4):
            inputs = batch(it)
            conf, label = inputs[2].softmax(dim=1).max(dim=1)
            ref_w = anchor_dwl_step(mem, *inputs, 60, TOTAL)[2]
            w = dwl(label, conf, torch.ones_like(label, dtype=torch.bool), 60, TOTAL)
            assert w.shape == (3, H, W)
            assert torch.allclose(w, ref_w, atol=1e-6, rtol=0)
    finally:
        B = saved


def test_merge_matches_the_anchor():
    """``train.py`` l.254-255: ``param.data = pseudo * 0.5 + param * 0.5``."""
    head = torch.nn.Module()
    head.conv_seg = torch.nn.Conv2d(6, C, 1)
    dual = attach_pseudo_classifier(head)
    with torch.no_grad():
        dual.pseudo.weight.normal_()
        dual.pseudo.bias.normal_()
    expect = [dual.pseudo.weight * 0.5 + dual.weight * 0.5,
              dual.pseudo.bias * 0.5 + dual.bias * 0.5]
    dual.merge(0.5)
    assert torch.equal(dual.weight, expect[0]) and torch.equal(dual.bias, expect[1])


def _state_bytes(module):
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_memory_survives_a_checkpoint_bit_exactly():
    """Save the state dict mid-way (after the memories filled up), load it into
    a fresh module, continue both: identical weights and memories."""
    dwl = DWLWeighting(C, memory_batches=8)
    for it in range(12):
        ours_step(dwl, *batch(it), it)
    # through MMEngine's checkpoint functions, inside a model as a method holds it
    state = _state_bytes(torch.nn.ModuleDict({'dwl': dwl}))
    state = weights_to_cpu(state)
    model = torch.nn.ModuleDict({'dwl': DWLWeighting(C, memory_batches=8)})
    resumed = model['dwl']
    assert resumed.memory_values.numel() != dwl.memory_values.numel()
    mmengine_load_state_dict(model, state, strict=True)
    for it in range(12, 24):
        w_a = ours_step(dwl, *batch(it), it)[2]
        w_b = ours_step(resumed, *batch(it), it)[2]
        assert torch.equal(w_a, w_b)
        assert float(w_a.sum()) > 0
    assert torch.equal(dwl.memory_values, resumed.memory_values)
    assert torch.equal(dwl.memory_counts, resumed.memory_counts)


def test_a_checkpoint_of_another_memory_length_is_refused():
    state = _state_bytes(DWLWeighting(C, memory_batches=50))
    with pytest.raises(ValueError, match='memory_batches'):
        DWLWeighting(C, memory_batches=40).load_state_dict(state)


def test_invalid_pixels_are_not_remembered_and_get_no_weight():
    dwl = DWLWeighting(C, warmup_iters=-1)
    conf, label = batch(0)[2].softmax(1).max(1)
    valid = torch.ones(B, H, W, dtype=torch.bool)
    valid[:, H // 2:] = False
    before = dwl.memory_values.numel()
    w = dwl(label, conf, valid, 10, TOTAL)
    # the 64 x 64 memory grid takes the valid half of the rows
    assert dwl.memory_values.numel() - before == B * 64 * 32
    assert torch.count_nonzero(w[~valid]) == 0 and torch.count_nonzero(w[valid]) > 0


def test_purified_confidences_alone_move_the_weights_and_the_loss():
    """The purifier's entry point: the same labels with other confidences
    change DWL's weights (and its memory) and hence the unsupervised loss."""
    logits = batch(3)[2]
    conf, label = logits.softmax(1).max(1)
    valid = torch.ones_like(label, dtype=torch.bool)
    student = torch.randn(B, C, H, W)
    a, b = DWLWeighting(C, warmup_iters=0), DWLWeighting(C, warmup_iters=0)
    raised = torch.where(conf < 0.6, torch.full_like(conf, 0.99), conf)
    w_a = a(label, conf, valid, 5, TOTAL)
    w_b = b(label, raised, valid, 5, TOTAL)
    assert not torch.equal(a.memory_values, b.memory_values)
    assert not torch.equal(w_a, w_b)
    # against the same bins, a higher confidence never weighs less
    w_c = a.weights(label, raised, valid, 5, TOTAL)
    assert bool((w_c >= w_a).all()) and bool((w_c > w_a).any())
    assert float(dwl_unsup_loss(student, label, w_b, valid)) != \
        float(dwl_unsup_loss(student, label, w_a, valid))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match='memory_batches'):
        DWLWeighting(C, memory_batches=0)
    conf, label = batch(0)[2].softmax(1).max(1)
    with pytest.raises(ValueError, match='total_iters'):
        DWLWeighting(C)(label, conf, None, 0, 0)


def _dwl_rank(rank, world, port, labels, confs, out):
    """One DDP rank: three updates with this rank's images."""
    import os
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.distributed.init_process_group('gloo', rank=rank, world_size=world)
    dwl = DWLWeighting(C, memory_batches=2)
    for step in range(3):
        dwl.update(labels[step][rank], confs[step][rank])
    torch.save(dwl.state_dict(), f'{out}/{rank}.pt')
    torch.distributed.destroy_process_group()


def test_every_rank_holds_the_memory_of_the_global_batch(tmp_path):
    """Under DDP each rank's pixels are gathered: every rank ends with the
    memory of one process that saw all ranks' images (so the one state
    MMEngine saves, rank 0's, is every rank's)."""
    g = torch.Generator().manual_seed(1)
    confs, labels = [], []
    for _ in range(3):
        conf, label = torch.randn(2, 1, C, 8, 8, generator=g).softmax(2).max(2)
        confs.append(conf)
        labels.append(label)
    labels[1][1][:] = 2  # rank 1 sees only class 2 at the second step
    torch.multiprocessing.spawn(_dwl_rank, nprocs=2, join=True,
                                args=(2, 29683, labels, confs, str(tmp_path)))
    single = DWLWeighting(C, memory_batches=2)
    for step in range(3):
        single.update(torch.cat(list(labels[step])), torch.cat(list(confs[step])))
    for rank in range(2):
        state = torch.load(tmp_path / f'{rank}.pt', weights_only=True)
        for key, value in single.state_dict().items():
            assert torch.equal(state[key], value), (rank, key)
