"""The semi-supervised methods behind SemiEarthSegmentor's one slot:
the base config spells out every setting, every registered method honours
the purifier contract, each method's loss equals its anchor's formula, and
every method's configs parse and train two iterations on CPU."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import nn

import semiearth.models.segmentors.semiearth_segmentor as seg_module
from conftest import ROOT, write_semiearth_config
from semiearth.models.semi_methods import BaseSemiMethod
from semiearth.models.utils import channel_dropout, complementary_channel_dropout

# every registered method (a new one must be added to the contract test's
# expectations: test_the_contract_covers_every_registered_method)
METHODS = sorted(name for name, cls in MODELS.module_dict.items()
                 if isinstance(cls, type) and issubclass(cls, BaseSemiMethod))
C, H, W, N_SUP, B = 4, 32, 32, 2, 2


def test_base_config_spells_out_every_semi_train_cfg_default():
    """configs/_base_/models/semi_fixmatch.py lists every key the segmentor
    knows with the segmentor's own default (mmdet's semi configs spell the
    settings out); an unknown key is an error naming the known ones."""
    from semiearth.models.segmentors.semiearth_segmentor import DEFAULT_TRAIN_CFG
    base = Config.fromfile(osp.join(ROOT, 'configs/_base_/models/semi_fixmatch.py'))
    spelled = {k: tuple(v) if isinstance(v, list) else v
               for k, v in base.semi_train_cfg.items()}
    assert spelled == DEFAULT_TRAIN_CFG
    assert base.semi_method == dict(type='FixMatch')
    with pytest.raises(ValueError, match=r"unknown semi_train_cfg keys \['conf'\]; known: .*conf_thresh"):
        MODELS.build(dict(type='SemiEarthSegmentor', segmentor=TINY, semi_train_cfg=dict(conf=0.9)))



# a tiny mmseg segmentor with a two-level feature list (MobileNetV2 x0.25:
# 8 channels at stride 4, 80 at stride 8) and BN, so train / eval modes differ
TINY = dict(
    type='EncoderDecoder',
    backbone=dict(type='MobileNetV2', widen_factor=0.25, strides=(1, 2, 2, 1, 1, 1, 1),
                  out_indices=(1, 6), norm_cfg=dict(type='BN')),
    decode_head=dict(type='DepthwiseSeparableASPPHead', in_channels=80, in_index=1,
                     channels=16, dilations=(1, 2), c1_in_channels=8, c1_channels=8,
                     dropout_ratio=0.0, num_classes=C, align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True)),
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[0.0] * 3, std=[1.0] * 3),
    train_cfg=dict(), test_cfg=dict(mode='whole'))


def _model(method, purifier=None, **train_cfg):
    torch.manual_seed(0)
    model = MODELS.build(dict(type='SemiEarthSegmentor', segmentor=TINY,
                              semi_method=dict(type=method), semi_train_cfg=train_cfg))
    model.init_weights()
    model.purifier = purifier
    model.train()
    return model


def _samples(n, valid_cols=W):
    out = []
    for _ in range(n):
        s = SegDataSample()
        s.set_metainfo(dict(img_shape=(H, W), pad_shape=(H, W), ori_shape=(H, W)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, C, (1, H, W)))
        mask = torch.zeros(1, H, W, dtype=torch.uint8)
        mask[..., :valid_cols] = 1
        s.valid_mask = PixelData(data=mask)
        out.append(s)
    return out


def _batch():
    torch.manual_seed(1)
    x = torch.randn(B, 3, H, W)
    inputs = dict(sup=torch.randn(N_SUP, 3, H, W), unsup_weak=x, unsup_strong=x + 0.1,
                  unsup_strong2=x - 0.1)
    samples = dict(sup=_samples(N_SUP), unsup_weak=_samples(B, valid_cols=W - 4))
    samples['sup'][0].gt_sem_seg.data[..., :4] = 255
    return inputs, samples


class SpyPurifier(nn.Module):
    """Records every call; returns labels and confidences of its own (a
    shifted argmax, seeded random confidences), so the test can tell them
    from the model's."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, probs, inputs, img_metas, src_coords, thresh):
        g = torch.Generator().manual_seed(len(self.calls))
        label = (probs.argmax(1) + 1) % probs.shape[1]
        conf = torch.rand(label.shape, generator=g)
        self.calls.append(dict(probs=probs.clone(), inputs=inputs, metas=img_metas,
                               label=label, conf=conf))
        return label, conf, {'vlm.spy': torch.tensor(1.0)}


def _record(monkeypatch, model):
    """Record the CutMix boxes drawn and every unsupervised loss's targets
    (the soft-weighting methods: what their weighting / mask receives)."""
    boxes, targets = [], []
    draw = seg_module.random_cutmix_boxes
    monkeypatch.setattr(seg_module, 'random_cutmix_boxes',
                        lambda *a, **k: boxes.append(draw(*a, **k)) or boxes[-1])
    unsup = model.unsup_loss
    monkeypatch.setattr(model, 'unsup_loss', lambda logits, label, conf, valid: targets.append(
        (label, conf, valid)) or unsup(logits, label, conf, valid))
    if 'weighting' in model.method_modules:  # DWL: its memories and weights
        dwl = model.method_modules['weighting']
        forward = dwl.forward
        monkeypatch.setattr(dwl, 'forward', lambda label, conf, valid, *a: targets.append(
            (label, conf, valid)) or forward(label, conf, valid, *a))
    cons = getattr(model.semi_method, 'consistency', None)
    if cons is not None:  # Mean Teacher: its confidence mask
        forward = cons.forward
        monkeypatch.setattr(cons, 'forward', lambda logits, target, label, conf, valid, *a:
                            targets.append((label, conf, valid))
                            or forward(logits, target, label, conf, valid, *a))
    return boxes, targets


@pytest.fixture
def progress(monkeypatch):
    """The schedule position a Runner would record: iteration 100 of 200
    (past DWL's warm-up)."""
    from semiearth.models.semi_methods import dwl, mean_teacher
    for module in (dwl, mean_teacher):
        monkeypatch.setattr(module, 'training_progress', lambda: (100, 200))


def _expected_probs(model, method, inputs):
    """The weak-view probabilities each method labels from, computed
    outside its step (the state is restored: a train-mode pass moves BN
    running statistics)."""
    x_sup, x_weak = inputs['sup'], inputs['unsup_weak']
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        if method == 'DWL':  # the online model in train mode, as the anchor
            probs = model.probs(model.student, x_weak)
        elif method != 'UniMatch':
            probs = model._teacher_probs(x_weak)
        else:
            eval_probs = model.online_probs(x_weak)
            logits = model.student.decode_head(model.student.extract_feat(
                torch.cat([x_sup, x_weak])))[N_SUP:]
            probs = torch.cat([model.probs(model.student, x_weak, logits), eval_probs])
    model.load_state_dict(state)
    return probs


def _paste(box, label, partner_label):
    roll = torch.roll(torch.arange(B), 1)
    return torch.where(box, partner_label[roll], label)


# strong views of each method, and the CutMix boxes its step draws (DWL
# mixes nothing; Mean Teacher mixes the weak view by default, as its anchor)
STRONG_VIEWS = {'FixMatch': 1, 'UniMatchV2': 2, 'UniMatch': 2, 'DWL': 1, 'MeanTeacher': 0}
CUTMIX_BOXES = {'FixMatch': 1, 'UniMatchV2': 2, 'UniMatch': 2, 'DWL': 0, 'MeanTeacher': 1}


def test_the_contract_covers_every_registered_method():
    assert set(METHODS) == set(STRONG_VIEWS) == set(CUTMIX_BOXES)
    for name in METHODS:
        strong = [b for b in MODELS.get(name).branches if b.startswith('unsup_strong')]
        assert len(strong) == STRONG_VIEWS[name]


@pytest.mark.parametrize('method', METHODS)
def test_every_method_purifies_once_and_its_loss_uses_the_purified_targets(
        method, monkeypatch, progress):
    """The contract of the purifier slot, for every registered method: one
    purifier call per step, on the weak-view probabilities the method labels
    from; every unsupervised term's labels and confidences are exactly the
    purifier's (CutMixed with that strong view's own box)."""
    spy = SpyPurifier()
    model = _model(method, spy, cutmix_prob=1.0, conf_thresh=0.5)
    boxes, targets = _record(monkeypatch, model)
    inputs, samples = _batch()
    probs = _expected_probs(model, method, inputs)
    losses = model.loss(inputs, samples)

    assert len(spy.calls) == 1
    call = spy.calls[0]
    torch.testing.assert_close(call['probs'], probs, rtol=0, atol=1e-6)
    assert call['inputs'].shape[0] == probs.shape[0] == len(call['metas'])
    label, conf = call['label'][:B], call['conf'][:B]
    if method == 'UniMatch':  # pasted pixels: the eval-mode pass's targets
        pasted_label, pasted_conf = call['label'][B:], call['conf'][B:]
    else:
        pasted_label, pasted_conf = label, conf
    views = CUTMIX_BOXES[method]
    assert len(boxes) == views and all(b.flatten(1).any(1).all() for b in boxes)
    expected = [(_paste(box, label, pasted_label), _paste(box, conf, pasted_conf))
                for box in boxes]
    if method in ('UniMatch', 'DWL'):  # the feature-perturbed weak view / DWL: no CutMix
        expected.append((label, conf))
    assert len(targets) == len(expected)
    for (got_label, got_conf, _), (want_label, want_conf) in zip(targets, expected):
        assert torch.equal(got_label, want_label)
        assert torch.equal(got_conf, want_conf)
    if views == 2:
        assert not torch.equal(boxes[0], boxes[1])  # each view its own boxes
    assert losses['vlm.spy'] == 1.0 and 'pseudo_before.mask_ratio' in losses


class FixedLabelPurifier(nn.Module):
    """Keeps the model's labels; confidences of its own, 0.9 to 1 (seeded)."""

    def __init__(self, seed):
        super().__init__()
        self.seed = seed

    def forward(self, probs, inputs, img_metas, src_coords, thresh):
        label = probs.argmax(1)
        g = torch.Generator().manual_seed(self.seed)
        return label, 0.9 + 0.1 * torch.rand(label.shape, generator=g), {}


@pytest.mark.parametrize('method,key', [('DWL', 'unsup.loss_dwl'),
                                        ('MeanTeacher', 'unsup.loss_cons')])
def test_purified_confidences_alone_move_the_soft_weighting_losses(method, key, progress):
    """DWL's bins and weights and Mean Teacher's mask read the purifier's
    confidences: with the labels fixed, other confidences give another
    unsupervised loss (and the same supervised one). DWL weighs a pixel by
    its confidence's rank within its class, so the test draws the pseudo
    classifier larger than at init, for a cross-entropy that varies over
    the pixels (at init it is log C everywhere)."""
    inputs, samples = _batch()
    runs = []
    for seed in (0, 1):
        model = _model(method, FixedLabelPurifier(seed), conf_thresh=0.97)
        if method == 'DWL':
            with torch.no_grad():
                pseudo = model.student.decode_head.conv_seg.pseudo.weight
                pseudo.copy_(torch.randn(pseudo.shape, generator=torch.Generator().manual_seed(2)))
        runs.append(model.loss(inputs, samples))
    assert runs[0][key] > 0 and runs[1][key] > 0
    assert not torch.isclose(runs[0][key], runs[1][key], rtol=1e-4, atol=0)
    torch.testing.assert_close(runs[0]['sup.loss_ce'], runs[1]['sup.loss_ce'])


@pytest.mark.parametrize('method', METHODS)
def test_every_method_trains_without_a_purifier(method, progress):
    model = _model(method, conf_thresh=0.0)
    inputs, samples = _batch()
    losses = model.loss(inputs, samples)
    total, log = model.parse_losses(losses)
    total.backward()
    assert torch.isfinite(total)
    assert all(p.grad is None for p in model.teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.student.parameters())
    assert 0 < log['pseudo.mask_ratio'] <= 1


def test_two_view_methods_say_which_data_config_gives_the_second_view():
    model = _model('UniMatchV2')
    inputs, samples = _batch()
    del inputs['unsup_strong2']
    with pytest.raises(ValueError, match=r"lacks branches \['unsup_strong2'\] that "
                                         r"UniMatchV2 needs.*_semi-2strong"):
        model.loss(inputs, samples)


# ------------------------------------------------- parity with the anchors
# Each test feeds the same tensors to the anchor's formulas (written out
# below, lines cited) and to our step (model outputs patched in), with B = 2
# unlabeled images per batch: there UniMatch-V2's partner `flip(0)` and our
# `roll(1)` pick the same image (docs/fidelity.md). The loss must agree to 1e-6.
UV2 = 'LiheYoung/UniMatch-V2 @ f6afb4dfca2d9dcbcee2307e97717954ca75c0ba'
UM = 'LiheYoung/UniMatch @ 0324f3dd4a22128105a5eb135d2586c0bb3cc647'
THRESH = 0.95


def _fixed(monkeypatch, model, n_boxes, *logits):
    """Patch the CutMix boxes (one per view, in order) and the decode
    head's outputs (one tensor per call, in order); returns the boxes."""
    g = torch.Generator().manual_seed(11)
    boxes = []
    for _ in range(n_boxes):
        box = torch.zeros(B, H, W, dtype=torch.bool)
        y, x = torch.randint(0, H - 12, (2,), generator=g).tolist()
        box[0, y:y + 12, x:x + 16] = True
        box[1, x:x + 8, y:y + 20] = True
        boxes.append(box)
    drawn, outputs = iter(boxes), iter(logits)
    monkeypatch.setattr(seg_module, 'random_cutmix_boxes', lambda *a, **k: next(drawn))
    monkeypatch.setattr(model.student.decode_head, 'forward', lambda feats: next(outputs))
    return boxes


def _anchor_inputs(samples):
    """UniMatch's mask_x (255 = ignore) and ignore_mask (255 = padding)."""
    mask_x = torch.stack([s.gt_sem_seg.data[0] for s in samples['sup']])
    valid = torch.stack([s.valid_mask.data[0] for s in samples['unsup_weak']])
    ignore_mask = torch.where(valid.bool(), 0, 255)
    return mask_x, ignore_mask


def _anchor_cutmix(box, mask, conf, ignore_mask, mask_mix, conf_mix, ignore_mix):
    """UniMatch-V2 unimatch_v2.py l.181-190 / UniMatch unimatch.py l.161-172."""
    mask_c, conf_c, ignore_c = mask.clone(), conf.clone(), ignore_mask.clone()
    mask_c[box == 1] = mask_mix[box == 1]
    conf_c[box == 1] = conf_mix[box == 1]
    ignore_c[box == 1] = ignore_mix[box == 1]
    return mask_c, conf_c, ignore_c


def _anchor_loss_u(pred, mask, conf, ignore_mask):
    """unimatch_v2.py l.194-196, unimatch.py l.176-186: masked CE over
    accepted pixels / valid pixels."""
    loss = nn.CrossEntropyLoss(reduction='none')(pred, mask)
    loss = loss * ((conf >= THRESH) & (ignore_mask != 255))
    return loss.sum() / (ignore_mask != 255).sum().item()


def _ours(model, inputs, samples):
    total, _ = model.parse_losses(model.loss(inputs, samples))
    return total


def _logits(g, n, scale=1.0):
    return (torch.randn(n, C, H, W, generator=g) * scale).requires_grad_()


def test_fixmatch_loss_is_the_anchors(monkeypatch):
    """UniMatch-V2 fixmatch.py l.171-193 (UV2): teacher argmax / max softmax,
    CutMix of the targets with the batch flipped, (loss_x + loss_u) / 2."""
    model = _model('FixMatch')
    inputs, samples = _batch()
    g = torch.Generator().manual_seed(5)
    pred_u_w, logits = _logits(g, B, 6.0).detach(), _logits(g, N_SUP + B)
    monkeypatch.setattr(model, '_teacher_probs', lambda x: pred_u_w.softmax(1))
    (box,) = _fixed(monkeypatch, model, 1, logits)
    ours = _ours(model, inputs, samples)

    mask_x, ignore_mask = _anchor_inputs(samples)
    conf_u_w, mask_u_w = pred_u_w.softmax(dim=1).max(dim=1)[0], pred_u_w.argmax(dim=1)
    pred_x, pred_u_s = logits.split([N_SUP, B])
    targets = _anchor_cutmix(box, mask_u_w, conf_u_w, ignore_mask, mask_u_w.flip(0),
                             conf_u_w.flip(0), ignore_mask.flip(0))
    loss_x = nn.CrossEntropyLoss(ignore_index=255)(pred_x, mask_x)
    loss = (loss_x + _anchor_loss_u(pred_u_s, *targets)) / 2.0
    assert ((targets[1] >= THRESH) & (targets[2] != 255)).float().mean() > 0.2
    assert abs(ours.item() - loss.item()) < 1e-6


def test_unimatch_v2_loss_is_the_anchors(monkeypatch):
    """UniMatch-V2 unimatch_v2.py (UV2): l.170-173 teacher labels; l.175-176
    and 181-190 each strong view CutMixed with its own box from the one
    teacher prediction; l.179 one forward over both views; l.192-204
    loss_u = (s1 + s2) / 2, loss = (loss_x + loss_u) / 2."""
    model = _model('UniMatchV2')
    inputs, samples = _batch()
    g = torch.Generator().manual_seed(6)
    pred_u_w, logits = _logits(g, B, 6.0).detach(), _logits(g, N_SUP + 2 * B)
    monkeypatch.setattr(model, '_teacher_probs', lambda x: pred_u_w.softmax(1))
    box1, box2 = _fixed(monkeypatch, model, 2, logits)
    ours = _ours(model, inputs, samples)

    mask_x, ignore_mask = _anchor_inputs(samples)
    conf_u_w, mask_u_w = pred_u_w.softmax(dim=1).max(dim=1)[0], pred_u_w.argmax(dim=1)
    pred_x, pred_u_s1, pred_u_s2 = logits.split([N_SUP, B, B])
    flipped = (mask_u_w.flip(0), conf_u_w.flip(0), ignore_mask.flip(0))
    loss_x = nn.CrossEntropyLoss(ignore_index=255)(pred_x, mask_x)
    loss_u_s1 = _anchor_loss_u(pred_u_s1, *_anchor_cutmix(box1, mask_u_w, conf_u_w,
                                                          ignore_mask, *flipped))
    loss_u_s2 = _anchor_loss_u(pred_u_s2, *_anchor_cutmix(box2, mask_u_w, conf_u_w,
                                                          ignore_mask, *flipped))
    loss_u_s = (loss_u_s1 + loss_u_s2) / 2.0
    loss = (loss_x + loss_u_s) / 2.0
    assert loss_u_s1 != loss_u_s2
    assert abs(ours.item() - loss.item()) < 1e-6


def test_unimatch_loss_is_the_anchors(monkeypatch):
    """UniMatch unimatch.py (UM): l.135-140 the CutMix partners labelled by
    the model in eval mode; l.151-159 labels from the train-mode forward of
    cat(img_x, img_u_w), detached, with its feature-perturbed twin
    (model/semseg/deeplabv3plus.py l.44-50); l.155 one forward over both
    strong views; l.161-172 pasted targets from the partners' labels;
    l.174-188 loss = (x + 0.25 s1 + 0.25 s2 + 0.5 fp) / 2.
    The anchor's partners are another batch (a second pass of the loader);
    ours are the batch rolled by one, so the anchor's `pred_u_w_mix` here is
    our eval-mode prediction rolled."""
    model = _model('UniMatch')
    inputs, samples = _batch()
    g = torch.Generator().manual_seed(7)
    pred_eval = _logits(g, B, 6.0).detach()
    preds, preds_fp = _logits(g, N_SUP + B, 6.0), _logits(g, N_SUP + B)
    strong = _logits(g, 2 * B)
    monkeypatch.setattr(model, 'online_probs', lambda x: pred_eval.softmax(1))
    box1, box2 = _fixed(monkeypatch, model, 2, torch.cat([preds, preds_fp]), strong)
    ours = _ours(model, inputs, samples)

    mask_x, ignore_mask = _anchor_inputs(samples)
    roll = torch.roll(torch.arange(B), 1)
    pred_u_w_mix, ignore_mask_mix = pred_eval[roll], ignore_mask[roll]
    conf_u_w_mix = pred_u_w_mix.softmax(dim=1).max(dim=1)[0]
    mask_u_w_mix = pred_u_w_mix.argmax(dim=1)
    pred_x, pred_u_w = preds.split([N_SUP, B])
    pred_u_w_fp = preds_fp[N_SUP:]
    pred_u_s1, pred_u_s2 = strong.chunk(2)
    pred_u_w = pred_u_w.detach()
    conf_u_w = pred_u_w.softmax(dim=1).max(dim=1)[0]
    mask_u_w = pred_u_w.argmax(dim=1)
    mix = (mask_u_w_mix, conf_u_w_mix, ignore_mask_mix)
    loss_x = nn.CrossEntropyLoss(ignore_index=255)(pred_x, mask_x)
    loss_u_s1 = _anchor_loss_u(pred_u_s1, *_anchor_cutmix(box1, mask_u_w, conf_u_w,
                                                          ignore_mask, *mix))
    loss_u_s2 = _anchor_loss_u(pred_u_s2, *_anchor_cutmix(box2, mask_u_w, conf_u_w,
                                                          ignore_mask, *mix))
    loss_u_w_fp = _anchor_loss_u(pred_u_w_fp, mask_u_w, conf_u_w, ignore_mask)
    loss = (loss_x + loss_u_s1 * 0.25 + loss_u_s2 * 0.25 + loss_u_w_fp * 0.5) / 2.0
    assert len({round(v.item(), 4) for v in (loss_u_s1, loss_u_s2, loss_u_w_fp)}) == 3
    assert abs(ours.item() - loss.item()) < 1e-6


DWL_ANCHOR = 'zhu-xlab/RS-DWL @ fe6504b (train.py last changed in 2b7708e)'


def test_dwl_step_is_the_anchors(monkeypatch):
    """DWL_ANCHOR ``train.py`` l.103-105 and l.145-179 (method 'DWL'), with
    ``utils/util.py`` l.85-145 as written out in tests/test_dwl.py: three
    consecutive steps past the warm-up (iterations 60-62 of 200), the same
    weak-view logits, labeled logits and pseudo-classifier logits of the
    strong view fed to the anchor's formulas and to ``DWL.loss``:
    ``loss_l + (CE(pseudo logits, argmax) * wgt).mean()``, the memories
    carried from step to step. Agreement to 1e-6."""
    from test_dwl import (anchor_calc_wgt_bins, anchor_sample_cls_bins,
                          anchor_update_cls_memory)
    from semiearth.models.semi_methods import dwl as dwl_module
    model = _model('DWL', sup_weight=1.0, unsup_weight=1.0)
    inputs, samples = _batch()
    samples['unsup_weak'] = _samples(B)  # every pixel valid, as in the anchor
    mask_x = torch.stack([s.gt_sem_seg.data[0] for s in samples['sup']])
    memory = {i: [torch.ones(1, C)] for i in range(C)}
    g = torch.Generator().manual_seed(7)
    for it in (60, 61, 62):
        logit_uw = _logits(g, B, 4.0).detach()
        logit_x, logit_us = _logits(g, N_SUP), _logits(g, B)
        monkeypatch.setattr(dwl_module, 'training_progress', lambda: (it, 200))
        monkeypatch.setattr(model, 'probs', lambda m, x, logits=None: logit_uw.softmax(1))
        monkeypatch.setattr(dwl_module, 'forward_dual', lambda head, feats: (
            torch.cat([logit_x, logit_us]), torch.cat([logit_x * 0, logit_us])))
        ours = _ours(model, inputs, samples)

        loss_l = F.cross_entropy(logit_x, mask_x, ignore_index=255)
        prob_uw = torch.softmax(logit_uw, dim=1)
        max_prob, pl = torch.max(prob_uw, dim=1)
        prob_bar = F.interpolate(prob_uw, size=(64, 64), mode='nearest')
        pl_bar = F.interpolate(pl.float().unsqueeze(1), size=(64, 64), mode='nearest')
        anchor_update_cls_memory(memory, prob_bar.permute(0, 2, 3, 1).reshape(-1, C),
                                 pl_bar.reshape(-1).long(), 50)
        wgt = anchor_calc_wgt_bins(anchor_sample_cls_bins(memory), max_prob.reshape(-1),
                                   pl.reshape(-1), it, 200)
        ce = F.cross_entropy(logit_us.permute(0, 2, 3, 1).reshape(-1, C), pl.reshape(-1),
                             ignore_index=255, reduction='none')
        loss = loss_l + (ce * wgt).mean() * (1 if it > 50 else 0)
        assert wgt.mean() > 0.1
        assert abs(ours.item() - loss.item()) < 1e-6


MT_ANCHOR = 'Britefury/cutmix-semisup-seg @ af6183a'


def test_mean_teacher_step_is_the_anchors(monkeypatch):
    """MT_ANCHOR ``train_seg_semisup_mask_mt.py`` l.346-367 and l.404-458
    (mix mode, as written out in tests/test_mean_teacher.py), with the
    supervised CE: the teacher's logits of the images and of their CutMix
    partners (the batch rolled by one) mixed with the box, the student's
    logits on the mixed images, ``loss_x + cons_weight * cons`` with the
    batch-mean 0.97 mask. ``MeanTeacher.loss`` on the same tensors agrees to
    1e-6."""
    from test_mean_teacher import anchor_consistency
    model = _model('MeanTeacher', sup_weight=1.0, unsup_weight=1.0, conf_thresh=0.97,
                   cutmix_prob=1.0)
    inputs, samples = _batch()
    samples['unsup_weak'] = _samples(B)  # every pixel valid, as in the anchor
    mask_x = torch.stack([s.gt_sem_seg.data[0] for s in samples['sup']])
    g = torch.Generator().manual_seed(9)
    logit_tea = _logits(g, B, 8.0).detach()
    logits = _logits(g, N_SUP + B)
    monkeypatch.setattr(model, '_teacher_probs', lambda x: logit_tea.softmax(1))
    (box,) = _fixed(monkeypatch, model, 1, logits)
    ours = _ours(model, inputs, samples)

    pred_x, logit_stu = logits.split([N_SUP, B])
    mix = box[:, None].float()
    partner = torch.roll(torch.arange(B), 1)
    one = torch.ones(B, 1, H, W)
    cons = anchor_consistency(logit_tea, logit_tea[partner], logit_stu, mix, one, one,
                              0.97, False, -1, 0, 1.0)
    loss = F.cross_entropy(pred_x, mask_x, ignore_index=255) + cons
    assert float(cons) > 0
    assert abs(ours.item() - loss.item()) < 1e-6


# ------------------------------------------------- feature perturbations
def _dinov2_feats(b, c=6):
    return [(torch.rand(b, c, 3, 3) + 0.5, torch.rand(b, c) + 0.5) for _ in range(4)]


@pytest.mark.parametrize('kind', ['dinov2', 'resnet'])
def test_complementary_channel_dropout(kind):
    """UniMatch-V2 model/semseg/dpt.py l.148-161 (UV2): a Bernoulli(0.5) x 2
    mask per (sample, channel) on the first view, 2 - mask on the second,
    int(B/2 * 0.5) image pairs left whole; labeled rows untouched. Levels of
    one width share the mask (the anchor's four DINOv2 levels), levels of
    other widths draw their own; DINOv2's (map, cls) pairs get the same."""
    n, b = 2, 8
    feats = (_dinov2_feats(n + 2 * b) if kind == 'dinov2' else
             [torch.rand(n + 2 * b, c, 4, 4) + 0.5 for c in (4, 8, 8, 16)])
    out = complementary_channel_dropout(feats, offset=n, num_pairs=b,
                                        generator=torch.Generator().manual_seed(0))
    assert type(out) is type(feats) and len(out) == len(feats)
    flat_in = [t for f in feats for t in (f if isinstance(f, tuple) else (f,))]
    flat_out = [t for f in out for t in (f if isinstance(f, tuple) else (f,))]
    masks = {}
    for t_in, t_out in zip(flat_in, flat_out):
        ratio = (t_out / t_in).flatten(2) if t_in.dim() > 2 else (t_out / t_in)[..., None]
        mask = ratio[..., 0]
        torch.testing.assert_close(ratio, mask[..., None].expand_as(ratio))  # per channel
        assert torch.equal(mask[:n], torch.ones_like(mask[:n]))
        m1, m2 = mask[n:n + b], mask[n + b:]
        torch.testing.assert_close(m1 + m2, torch.full_like(m1, 2.0))
        whole = (m1 == 1).all(1)
        assert whole.sum() == int(b * 0.5)
        assert set(m1[~whole].unique().tolist()) <= {0.0, 2.0}
        masks.setdefault(mask.shape[1], []).append(mask)
    for same_width in masks.values():
        assert all(torch.equal(m, same_width[0]) for m in same_width)
    wholes = {tuple((ms[0][n:n + b] == 1).all(1).tolist()) for ms in masks.values()}
    assert len(wholes) == 1  # the same image pairs kept whole at every level


def test_channel_dropout_is_dropout2d_per_level():
    """UniMatch deeplabv3plus.py l.44-50 (UM): nn.Dropout2d(0.5) per level:
    whole channels zeroed, the rest x2; DINOv2's map and class token share a
    level's mask; each level draws its own."""
    feats = _dinov2_feats(16, c=32)
    out = channel_dropout(feats, 0.5, generator=torch.Generator().manual_seed(0))
    masks = []
    for (m_in, c_in), (m_out, c_out) in zip(feats, out):
        mask = (m_out / m_in)[..., 0, 0]
        torch.testing.assert_close(m_out / m_in, mask[..., None, None].expand_as(m_in))
        torch.testing.assert_close(c_out / c_in, mask)
        assert set(mask.unique().tolist()) == {0.0, 2.0}
        masks.append(mask)
    assert not torch.equal(masks[0], masks[1])
    with pytest.raises(ValueError, match='p must be in'):
        channel_dropout(feats, 1.0)


# ------------------------------------------------------ data and configs
NC_CONFIGS = {
    'FixMatch': 'configs/fixmatch/'
                'fixmatch_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py',
    'UniMatchV2': 'configs/unimatch_v2/'
                  'unimatch-v2_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py',
    'UniMatch': 'configs/unimatch/'
                'unimatch_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py',
    'DWL': 'configs/dwl/dwl_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py',
    'MeanTeacher': 'configs/mean_teacher/'
                   'mean-teacher_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py',
}
METHOD_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'unimatch*', '*.py')))


def _nc_config(method, nc_data):
    cfg = Config.fromfile(osp.join(ROOT, NC_CONFIGS[method]))
    for part in ('labeled', 'unlabeled'):
        cfg.train_dataloader.dataset[part].data_root = nc_data
    for loader in ('val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = nc_data
    return cfg


def test_two_strong_views_draw_independently_and_per_rank(nc_data):
    """The second strong view runs the same photometric pipeline after the
    first, in the sample's seeded pipeline (semiearth.utils.step_rng: seed,
    rank, source, position): a rerun draws the same views, another rank
    other ones, the two views other draws than each other, and the first
    strong view and the weak view are FixMatch's pixel for pixel."""
    from mmseg.registry import DATASETS
    from semiearth.utils.step_rng import forked_rng, sample_seed
    two = DATASETS.build(_nc_config('UniMatchV2', nc_data).train_dataloader.dataset.unlabeled)
    one = DATASETS.build(_nc_config('FixMatch', nc_data).train_dataloader.dataset.unlabeled)

    def views(ds, rank, pos):
        with forked_rng(sample_seed(0, rank, 'unlabeled', pos)):
            return ds[pos]['inputs']
    differ_views, differ_ranks = 0, 0
    for pos in range(6):
        a, again, fixmatch = views(two, 0, pos), views(two, 0, pos), views(one, 0, pos)
        for branch in ('unsup_weak', 'unsup_strong', 'unsup_strong2'):
            assert torch.equal(a[branch], again[branch])
        assert torch.equal(a['unsup_weak'], fixmatch['unsup_weak'])
        assert torch.equal(a['unsup_strong'], fixmatch['unsup_strong'])
        differ_views += not torch.equal(a['unsup_strong'], a['unsup_strong2'])
        other = views(two, 1, pos)
        differ_ranks += not torch.equal(a['unsup_strong2'], other['unsup_strong2'])
    assert differ_views >= 5 and differ_ranks >= 5


def test_method_configs_parse_and_name_their_method():
    names = {osp.basename(p)[:-3] for p in METHOD_CONFIGS}
    for method, folder in (('unimatch-v2', 'unimatch_v2'), ('unimatch', 'unimatch')):
        for pur in ('', '-vlmpp'):
            for rest in ('deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128',
                         ('dpt-dinov2-s' if method == 'unimatch-v2' else
                          'deeplabv3plus-r101-d8') + '_4xb8-10k_potsdam-1pct-518x518',
                         ('dpt-dinov2-s' if method == 'unimatch-v2' else
                          'deeplabv3plus-r101-d8') + '_4xb8-12k_loveda-1pct-518x518'):
                assert f'{method}{pur}_{rest}' in names
    for path in METHOD_CONFIGS:
        cfg = Config.fromfile(path)
        name = osp.basename(path)
        method = 'UniMatchV2' if name.startswith('unimatch-v2') else 'UniMatch'
        assert cfg.model.semi_method.type == method
        assert bool(cfg.model.get('purifier')) == ('-vlmpp_' in name)
        branches = cfg.train_dataloader.dataset.unlabeled.pipeline[-1]
        assert {'unsup_strong', 'unsup_strong2'} <= set(branches)
        assert cfg.model.semi_test_cfg.predict_on == (
            'student' if method == 'UniMatch' else 'teacher')


SOFT_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'dwl', '*.py')) +
                      glob.glob(osp.join(ROOT, 'configs', 'mean_teacher', '*.py')))


def test_soft_weighting_configs_parse_and_name_their_method():
    """configs/dwl (NC Landsat 1/8, Potsdam and LoveDA 1 % with DeepLabV3+
    R101 as DWL's paper) and configs/mean_teacher (NC Landsat 1/8, Potsdam
    1 %), each with and without the purifier; DWL's merge hook."""
    names = {osp.basename(p)[:-3] for p in SOFT_CONFIGS}
    nc = 'deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128'
    potsdam = 'deeplabv3plus-r101-d8_4xb8-10k_potsdam-1pct-518x518'
    loveda = 'deeplabv3plus-r101-d8_4xb8-12k_loveda-1pct-518x518'
    expected = {f'{m}{p}_{rest}' for p in ('', '-vlmpp')
                for m, rests in (('dwl', (nc, potsdam, loveda)),
                                 ('mean-teacher', (nc, potsdam))) for rest in rests}
    assert names == expected
    for path in SOFT_CONFIGS:
        cfg = Config.fromfile(path)
        name = osp.basename(path)
        dwl = name.startswith('dwl')
        assert cfg.model.semi_method.type == ('DWL' if dwl else 'MeanTeacher')
        assert bool(cfg.model.get('purifier')) == ('-vlmpp_' in name)
        hooks = [h['type'] for h in cfg.custom_hooks]
        assert ('ClassifierMergeHook' in hooks) == dwl and 'EMATeacherHook' in hooks
        assert cfg.model.semi_test_cfg.predict_on == ('student' if dwl else 'teacher')
        assert cfg.default_hooks.checkpoint.save_best == \
            ('student/mIoU' if dwl else 'teacher/mIoU')
        assert cfg.model.semi_train_cfg.sup_weight == cfg.model.semi_train_cfg.unsup_weight == 1


@pytest.mark.parametrize('method', sorted(NC_CONFIGS))
def test_nc_config_trains_two_iterations(method, nc_data, tmp_path):
    """Each method's NC Landsat config, through the Runner: two iterations
    (2 labeled + 2 unlabeled tiles, no validation, no checkpoint), with its
    hooks (EMA teacher, step RNG)."""
    from mmengine.runner import Runner
    cfg = _nc_config(method, nc_data)
    object.__setattr__(cfg, '_format_python_code', False)
    cfg.work_dir = str(tmp_path)
    cfg.model.segmentor.backbone.init_cfg = None
    cfg.train_dataloader.batch_size = 4
    cfg.train_dataloader.sampler.update(batch_size=4, num_labeled=2)
    cfg.train_cfg.update(max_iters=2, val_interval=1000)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1000, save_last=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    # the data checks have their own tests (3 s here)
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] != 'ConfigCheckHook']
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    scalars = runner.message_hub.log_scalars
    assert np.isfinite(scalars['train/loss'].current())
    terms = [k for k in scalars if k.startswith('train/unsup.loss')]
    assert len(terms) == {'FixMatch': 1, 'UniMatchV2': 2, 'UniMatch': 3, 'DWL': 1,
                          'MeanTeacher': 1}[method], terms


@pytest.mark.parametrize('method', ['UniMatchV2', 'UniMatch', 'DWL', 'MeanTeacher'])
def test_vlmpp_config_step_with_the_real_purifier(method, nc_data, tiny_clip_ckpt, tmp_path,
                                                  progress):
    """The -vlmpp NC config of each method but FixMatch (the SemiEarth
    configs' own tests cover it), with the real purifier
    (a tiny random CLIP, online evidence, the PoE rule that needs no
    calibration): one step on a real batch; the purifier's diagnostics are
    logged and the loss is finite."""
    from mmengine.runner import Runner
    base = osp.join(ROOT, NC_CONFIGS[method].replace('_deeplabv3plus', '-vlmpp_deeplabv3plus'))
    path = write_semiearth_config(tmp_path / 'cfg.py', nc_data, str(tmp_path / 'cache'),
                                  tiny_clip_ckpt, base=base, evidence='online',
                                  rule=dict(type='PoEPurifyRule'))
    cfg = Config.fromfile(path)
    assert cfg.model.semi_method.type == method
    cfg.train_dataloader.batch_size = 4
    cfg.train_dataloader.sampler.update(batch_size=4, num_labeled=2)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader, seed=0)))
    losses = model.loss(**model.data_preprocessor(batch, True))
    total, log = model.parse_losses(losses)
    assert torch.isfinite(total)
    assert {'vlm.changed_label_ratio', 'pseudo_before.mask_ratio'} <= set(log)
