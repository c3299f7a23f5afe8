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
from conftest import ROOT, data_options
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
    """Record the CutMix boxes drawn and every unsupervised loss's targets."""
    boxes, targets = [], []
    draw = seg_module.random_cutmix_boxes
    monkeypatch.setattr(seg_module, 'random_cutmix_boxes',
                        lambda *a, **k: boxes.append(draw(*a, **k)) or boxes[-1])
    unsup = model.unsup_loss
    monkeypatch.setattr(model, 'unsup_loss', lambda logits, label, conf, valid: targets.append(
        (label, conf, valid)) or unsup(logits, label, conf, valid))
    return boxes, targets


def _expected_probs(model, method, inputs):
    """The weak-view probabilities each method labels from, computed
    outside its step (the state is restored: a train-mode pass moves BN
    running statistics)."""
    x_sup, x_weak = inputs['sup'], inputs['unsup_weak']
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        if method != 'UniMatch':
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


# strong views of each method, and whether pasted pixels come from another
# pass (UniMatch labels its CutMix partners in eval mode)
STRONG_VIEWS = {'FixMatch': 1, 'UniMatchV2': 2, 'UniMatch': 2}


def test_the_contract_covers_every_registered_method():
    assert set(METHODS) == set(STRONG_VIEWS)
    for name in METHODS:
        strong = [b for b in MODELS.get(name).branches if b.startswith('unsup_strong')]
        assert len(strong) == STRONG_VIEWS[name]


@pytest.mark.parametrize('method', METHODS)
def test_every_method_purifies_once_and_its_loss_uses_the_purified_targets(
        method, monkeypatch):
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
    views = STRONG_VIEWS[method]
    assert len(boxes) == views and all(b.flatten(1).any(1).all() for b in boxes)
    expected = [(_paste(box, label, pasted_label), _paste(box, conf, pasted_conf))
                for box in boxes]
    if method == 'UniMatch':  # the feature-perturbed weak view: no CutMix
        expected.append((label, conf))
    assert len(targets) == len(expected)
    for (got_label, got_conf, _), (want_label, want_conf) in zip(targets, expected):
        assert torch.equal(got_label, want_label)
        assert torch.equal(got_conf, want_conf)
    if views == 2:
        assert not torch.equal(boxes[0], boxes[1])  # each view its own boxes
    assert losses['vlm.spy'] == 1.0 and 'pseudo_before.mask_ratio' in losses


@pytest.mark.parametrize('method', METHODS)
def test_every_method_trains_without_a_purifier(method):
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
