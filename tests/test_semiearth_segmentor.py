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

    def forward(self, probs, inputs, img_metas, src_coords, thresh):
        b, _, h, w = probs.shape
        label = torch.zeros(b, h, w, dtype=torch.long)
        return label, torch.ones(b, h, w), {'vlm.changed_label_ratio': torch.tensor(0.5)}


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


# ------------------------------------------------- fidelity to UniMatch-V2
def test_supervised_loss_is_the_mean_over_labeled_pixels(monkeypatch):
    """UniMatch-V2: nn.CrossEntropyLoss(ignore_index=255), a mean over the
    non-ignored pixels, times 0.5. mmseg's default (avg_non_ignore=False)
    would divide by all pixels: here 3/4 of the value, as 1/4 is ignored."""
    model = _model(cutmix_prob=0.0)
    model.train()
    inputs, samples = _batch()
    for s in samples['sup']:
        s.gt_sem_seg.data[:, :, 48:] = 255  # a quarter of the labeled pixels
    logits = torch.randn(4, 6, H, W, requires_grad=True)
    monkeypatch.setattr(model.student.decode_head, 'forward', lambda feats: logits)
    losses = model.loss(inputs, samples)
    gt = torch.stack([s.gt_sem_seg.data[0] for s in samples['sup']])
    expected = 0.5 * torch.nn.CrossEntropyLoss(ignore_index=255)(logits[:2], gt)
    torch.testing.assert_close(losses['sup.loss_ce'], expected)
    mmseg_default = 0.5 * F.cross_entropy(logits[:2], gt, ignore_index=255,
                                          reduction='sum') / gt.numel()
    assert not torch.allclose(losses['sup.loss_ce'], mmseg_default)


def test_unsupervised_loss_with_cutmix_by_hand(monkeypatch):
    """UniMatch-V2 with CutMix: inside image i's box the strong image, the
    pseudo-label, the confidence and the valid mask all come from its partner
    (here the batch rolled by one: image 0 takes image 1's pixels); the loss
    is CE summed over accepted pixels / valid pixels of the mixed views."""
    import semiearth.models.segmentors.semiearth_segmentor as seg_module
    model = _model(cutmix_prob=0.5, unsup_weight=1.0, conf_thresh=0.95)
    model.train()
    inputs, samples = _batch()
    # image 1: columns 56.. are padding; image 0 fully valid
    samples['unsup_weak'][1].valid_mask.data[..., 56:] = 0
    # teacher: image 0 says class 1 at 0.99; image 1 says class 3 at 0.99,
    # but only 0.5 on its rows 0..7
    probs = torch.full((2, 6, H, W), 0.002)
    probs[0, 1] = 0.99
    probs[1, 3] = 0.99
    probs[1, :, :8] = 1 / 6
    probs[1, 3, :8] = 0.5
    monkeypatch.setattr(model, '_teacher_probs', lambda x: probs)
    box = torch.zeros(2, H, W, dtype=torch.bool)
    box[0, :16, 40:] = True  # image 0: a box at rows 0..15, columns 40..63
    monkeypatch.setattr(seg_module, 'random_cutmix_boxes', lambda *a, **k: box)
    seen = {}
    extract = model.student.extract_feat
    monkeypatch.setattr(model.student, 'extract_feat',
                        lambda x: seen.setdefault('x', x) is None or extract(x))
    logits = torch.randn(4, 6, H, W, requires_grad=True)
    monkeypatch.setattr(model.student.decode_head, 'forward', lambda feats: logits)
    losses = model.loss(inputs, samples)

    target = torch.tensor([1, 3]).view(2, 1, 1).repeat(1, H, W)
    target[0][box[0]] = 3
    valid = torch.ones(2, H, W, dtype=torch.bool)
    valid[1, :, 56:] = False
    valid[0, :16, 56:] = False          # image 1's padding pasted into image 0
    accept = valid.clone()
    accept[1, :8] = False               # image 1's unsure rows
    accept[0, :8, 40:] = False          # ... and their copy in image 0's box
    ce = F.cross_entropy(logits[2:], target, reduction='none')
    expected = ce[accept].sum() / valid.sum()
    torch.testing.assert_close(losses['unsup.loss_ce'], expected)
    strong = inputs['unsup_strong']
    x_mixed = seen['x'][2:]
    assert torch.equal(x_mixed[0][:, box[0]], strong[1][:, box[0]])
    assert torch.equal(x_mixed[0][:, ~box[0]], strong[0][:, ~box[0]])
    assert torch.equal(x_mixed[1], strong[1])


def test_threshold_is_inclusive():
    """UniMatch-V2 keeps conf >= thresh: a pixel exactly at the threshold
    supervises the student, one a float32 step below does not."""
    model = _model(conf_thresh=0.5)
    conf = torch.tensor([[[0.5, float(torch.nextafter(torch.tensor(0.5), torch.tensor(0.)))]]])
    label = torch.zeros(1, 1, 2, dtype=torch.long)
    valid = torch.ones(1, 1, 2, dtype=torch.bool)
    assert model.accept(label, conf, valid)[0, 0].tolist() == [True, False]
    assert model.thresholds(label).tolist() == [[[0.5, 0.5]]]


def test_conf_thresh_range_and_how_to_switch_the_loss_off():
    with pytest.raises(ValueError, match=r'\[0, 1\).*unsup_weight=0'):
        _model(conf_thresh=1.0)
    with pytest.raises(ValueError, match='conf_thresh'):
        _model(conf_thresh=-0.1)
    model = _model(unsup_weight=0.0)
    model.train()
    inputs, samples = _batch()
    assert model.loss(inputs, samples)['unsup.loss_ce'] == 0


def test_take_batch_slices_tensors_in_nested_features():
    """DINOv2 with output_cls_token returns [(map, cls), ...]: the labeled
    part is the first n samples of every tensor, not the first n list items."""
    from semiearth.models.segmentors.semiearth_segmentor import take_batch
    feats = [(torch.randn(5, 3, 4, 4), torch.randn(5, 3)) for _ in range(4)]
    got = take_batch(feats, 2)
    assert isinstance(got, list) and len(got) == 4 and isinstance(got[0], tuple)
    for (m, c), (m0, c0) in zip(got, feats):
        assert torch.equal(m, m0[:2]) and torch.equal(c, c0[:2])


# ---------------------------------------------------------- the RNG policy
def test_cutmix_boxes_are_a_function_of_seed_rank_and_iteration():
    """Inside a runner the boxes depend on (seed, rank, iteration) only: a
    resumed run draws the same boxes at the same iteration whatever the
    global RNG did in between; another iteration draws others."""
    from mmengine.logging import MessageHub
    from semiearth.models.utils import random_cutmix_boxes
    from semiearth.utils import step_generator
    hub = MessageHub.get_current_instance()
    old = hub.get_info('iter')

    def draw():
        return random_cutmix_boxes(4, 32, 32, prob=1.0, generator=step_generator('cutmix'))
    try:
        torch.manual_seed(0)
        hub.update_info('iter', 5)
        a = draw()
        torch.rand(1000)  # the global RNG moves on
        assert torch.equal(draw(), a)
        hub.update_info('iter', 6)
        assert not torch.equal(draw(), a)
        # four distinct boxes, compared as boxes (corner and size), not by a
        # few of their pixels
        boxes = set()
        for b in a:
            ys, xs = b.nonzero(as_tuple=True)
            boxes.add((int(ys.min()), int(xs.min()), int(ys.max()), int(xs.max())))
        assert len(boxes) == 4
    finally:
        hub.update_info('iter', old)


def _cutmix_rank(rank, world, port, out):
    """One DDP rank: one training step; record the CutMix boxes it drew."""
    import os

    import semiearth.models.segmentors.semiearth_segmentor as seg_module
    from mmengine.logging import MessageHub
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.distributed.init_process_group('gloo', rank=rank, world_size=world)
    MessageHub.get_current_instance().update_info('iter', 3)
    drawn = []
    original = seg_module.random_cutmix_boxes
    seg_module.random_cutmix_boxes = lambda *a, **k: drawn.append(original(*a, **k)) or drawn[-1]
    model = _model(cutmix_prob=1.0)
    model.train()
    torch.manual_seed(0)  # mmengine seeds every rank the same
    model.loss(*_batch())
    torch.save(drawn[0], f'{out}/{rank}.pt')
    torch.distributed.destroy_process_group()


def test_cutmix_boxes_differ_across_ddp_ranks(tmp_path):
    """UniMatch-V2 draws a box per sample in each rank's data pipeline; with
    one seed on every rank, boxes from the global RNG would be the same on
    every GPU. Two gloo processes, same seed and iteration: other boxes."""
    torch.multiprocessing.spawn(_cutmix_rank, nprocs=2, join=True,
                                args=(2, 29653, str(tmp_path)))
    boxes = [torch.load(tmp_path / f'{r}.pt') for r in range(2)]
    assert all(b.flatten(1).any(1).all() for b in boxes)  # prob 1: every sample
    assert not torch.equal(boxes[0], boxes[1])
    assert not torch.equal(boxes[0][0], boxes[0][1])
