"""SemiEarthSegmentor's training step: what reaches the unsupervised loss."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import nn

from conftest import FIXMATCH_CONFIG

C, H, W = 6, 64, 64


def _model(**train_cfg):
    cfg = Config.fromfile(FIXMATCH_CONFIG).model
    cfg.segmentor.backbone.init_cfg = None
    cfg.semi_train_cfg.update(train_cfg)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _samples(n, gt_value=None, valid_cols=W):
    out = []
    for _ in range(n):
        s = SegDataSample()
        s.set_metainfo(dict(img_shape=(H, W), pad_shape=(H, W), ori_shape=(H, W)))
        gt = torch.randint(0, 6, (1, H, W)) if gt_value is None else \
            torch.full((1, H, W), gt_value)
        s.gt_sem_seg = PixelData(data=gt)
        mask = torch.zeros(1, H, W, dtype=torch.uint8)
        mask[..., :valid_cols] = 1
        s.valid_mask = PixelData(data=mask)
        out.append(s)
    return out


def _batch(gt_value=None, valid_cols=W):
    torch.manual_seed(1)
    x = torch.randn(2, C, H, W)
    inputs = dict(sup=torch.randn(2, C, H, W), unsup_weak=x, unsup_strong=x + 0.1)
    samples = dict(sup=_samples(2), unsup_weak=_samples(2, gt_value, valid_cols),
                   unsup_strong=_samples(2, gt_value, valid_cols))
    return inputs, samples


def test_only_confident_valid_pixels_reach_the_unsupervised_loss(monkeypatch):
    model = _model(cutmix_prob=0.0, unsup_weight=1.0, conf_thresh=0.95)
    model.train()
    inputs, samples = _batch(valid_cols=48)  # columns 48.. are padding
    # teacher: confident (0.99, class 2) in the top half, unsure (0.5) below
    probs = torch.full((2, 6, H, W), 0.1)
    probs[:, 2, :H // 2] = 0.99
    probs[:, 2, H // 2:] = 0.5
    monkeypatch.setattr(model, '_teacher_probs', lambda x: probs)
    logits = torch.randn(4, 6, H, W, requires_grad=True)
    monkeypatch.setattr(model.student.decode_head, 'forward', lambda feats: logits)
    losses = model.loss(inputs, samples)

    accept = torch.zeros(2, H, W, dtype=torch.bool)
    accept[:, :H // 2, :48] = True
    ce = F.cross_entropy(logits[2:], torch.full((2, H, W), 2), reduction='none')
    expected = ce[accept].sum() / (2 * H * 48)  # divided by valid, not accepted
    torch.testing.assert_close(losses['unsup.loss_ce'], expected)
    assert losses['pseudo.mask_ratio'].item() == pytest.approx(0.5)

    losses['unsup.loss_ce'].backward()
    grad = logits.grad[2:].abs().sum(1)
    assert (grad[accept] > 0).all()
    assert (grad[~accept] == 0).all()  # under threshold or padded: nothing
    assert (logits.grad[:2] == 0).all()  # labeled part untouched by L_unsup


def test_teacher_gets_no_gradient_and_stays_in_eval():
    model = _model()
    model.train()
    assert not model.teacher.training and model.student.training
    inputs, samples = _batch()
    losses = model.loss(inputs, samples)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert all(p.grad is None and not p.requires_grad for p in model.teacher.parameters())
    assert any(p.grad is not None for p in model.student.parameters())


def test_unlabeled_ground_truth_never_reaches_a_loss():
    model = _model(conf_thresh=0.0)  # accept every pixel, so gt would matter
    model.train()
    results = []
    for gt in (0, 3):
        torch.manual_seed(5)  # same CutMix boxes
        inputs, samples = _batch(gt_value=gt)
        results.append(model.loss(inputs, samples))
    a, b = results
    for k in a:
        if 'loss' in k:
            assert torch.equal(a[k], b[k]), k
    assert a['pseudo.acc_all'] != b['pseudo.acc_all']  # diagnostics do see it


def test_plain_checkpoint_loads_into_student_and_teacher(tmp_path):
    from mmengine.runner import load_checkpoint
    plain_cfg = Config.fromfile(FIXMATCH_CONFIG).model.segmentor
    plain_cfg.backbone.init_cfg = None
    torch.manual_seed(123)
    plain = MODELS.build(plain_cfg)
    torch.save({'state_dict': plain.state_dict()}, tmp_path / 'plain.pth')
    model = _model()
    load_checkpoint(model, str(tmp_path / 'plain.pth'), strict=True)
    for name, value in plain.state_dict().items():
        assert torch.equal(model.student.state_dict()[name], value)
        assert torch.equal(model.teacher.state_dict()[name], value)
    # and its own checkpoints hold both
    keys = model.state_dict().keys()
    assert any(k.startswith('student.') for k in keys)
    assert any(k.startswith('teacher.') for k in keys)


def test_predict_on_teacher_or_student():
    model = _model()
    model.student.decode_head.conv_seg.bias.data += 100 * torch.eye(6)[1]
    model.eval()
    x = torch.randn(1, C, H, W)
    s = _samples(1)
    model.semi_test_cfg['predict_on'] = 'student'
    assert (model.predict(x, s)[0].pred_sem_seg.data == 1).all()
    model.semi_test_cfg['predict_on'] = 'teacher'
    assert not (model.predict(x, s)[0].pred_sem_seg.data == 1).all()


class _AllZeroPurifier(nn.Module):
    """Test purifier: every pixel becomes class 0 with confidence 1."""

    def forward(self, probs, inputs, img_metas, src_coords=None):
        b, _, h, w = probs.shape
        label = torch.zeros(b, h, w, dtype=torch.long)
        return label, torch.ones(b, h, w), None, {'vlm.changed_label_ratio': torch.tensor(0.5)}


def test_purifier_slot_changes_the_targets(monkeypatch):
    MODELS.register_module(module=_AllZeroPurifier, force=True)
    model = _model(cutmix_prob=0.0, unsup_weight=1.0)
    model.purifier = _AllZeroPurifier()
    model.train()
    logits = torch.randn(4, 6, H, W, requires_grad=True)
    monkeypatch.setattr(model.student.decode_head, 'forward', lambda feats: logits)
    inputs, samples = _batch(valid_cols=W)
    losses = model.loss(inputs, samples)
    expected = F.cross_entropy(logits[2:], torch.zeros(2, H, W, dtype=torch.long))
    torch.testing.assert_close(losses['unsup.loss_ce'], expected)
    assert losses['pseudo.mask_ratio'] == 1.0
    assert 'vlm.changed_label_ratio' in losses and 'pseudo_before.mask_ratio' in losses


def test_wrapped_config_must_be_a_segmentor():
    with pytest.raises(TypeError, match="wraps an mmseg EncoderDecoder.*'MobileNetV2'"):
        MODELS.build(dict(type='SemiEarthSegmentor', segmentor=dict(type='MobileNetV2')))
    cfg = copy.deepcopy(Config.fromfile(FIXMATCH_CONFIG).model)
    cfg.semi_train_cfg['conf_treshold'] = 0.9
    with pytest.raises(ValueError, match='conf_treshold'):
        MODELS.build(cfg)


def test_batch_without_unlabeled_samples_is_a_clear_error():
    model = _model()
    inputs, samples = _batch()
    del inputs['unsup_weak'], inputs['unsup_strong']
    with pytest.raises(ValueError, match=r"lacks branches \['unsup_weak', 'unsup_strong'\].*SemiSampler"):
        model.loss(inputs, samples)
