"""DWL's pseudo-label classifier on any mmseg decode head, its merge hook, and
its removal for export (zhu-xlab/RS-DWL @ fe6504b, ``models/
deeplab_v3plus.py`` l.37-38, 54-58, 73-76; ``train.py`` l.150, 246-258)."""
import copy
from types import SimpleNamespace

import pytest
import torch
from mmengine.dataset import ConcatDataset
from mmengine.logging import MMLogger
from mmseg.models.decode_heads import DepthwiseSeparableASPPHead, FCNHead, SegformerHead

from semiearth.engine.hooks.classifier_merge_hook import ClassifierMergeHook
from semiearth.models.heads import (DualConvSeg, attach_pseudo_classifier,
                                    drop_pseudo_classifier_keys, forward_dual,
                                    merge_pseudo_classifiers, strip_pseudo_classifiers)
from semiearth.samplers import SemiSampler

K = 3


def _aspp():
    head = DepthwiseSeparableASPPHead(in_channels=8, channels=4, c1_in_channels=4,
                                      c1_channels=2, dilations=(1, 2), num_classes=K)
    feats = [torch.randn(2, 4, 16, 16), torch.randn(2, 8, 8, 8)]
    return head, feats


def _segformer():
    head = SegformerHead(in_channels=[4, 6], in_index=[0, 1], channels=4, num_classes=K)
    feats = [torch.randn(2, 4, 16, 16), torch.randn(2, 6, 8, 8)]
    return head, feats


def _fcn():
    head = FCNHead(in_channels=6, channels=4, num_convs=1, num_classes=K)
    return head, [torch.randn(2, 6, 8, 8)]


HEADS = pytest.mark.parametrize('make', [_aspp, _segformer, _fcn],
                                ids=['deeplabv3plus', 'segformer', 'fcn'])


@HEADS
def test_outside_dual_mode_the_head_is_unchanged(make):
    head, feats = make()
    head.eval()
    plain_keys = set(head.state_dict())
    before = head(feats)
    attach_pseudo_classifier(head)
    assert torch.equal(head(feats), before)
    assert set(head.state_dict()) - plain_keys == {'conv_seg.pseudo.weight',
                                                   'conv_seg.pseudo.bias'}
    # a plain mmseg state dict still loads: only the pseudo classifier is missing
    plain = make()[0].state_dict()
    result = head.load_state_dict(plain, strict=False)
    assert set(result.missing_keys) == {'conv_seg.pseudo.weight', 'conv_seg.pseudo.bias'}
    assert not result.unexpected_keys


@HEADS
def test_dual_forward_gives_both_classifiers_on_the_same_features(make):
    head, feats = make()
    head.eval()
    attach_pseudo_classifier(head)
    main, pseudo = forward_dual(head, feats)
    assert torch.equal(main, head(feats))
    # the pseudo logits are the head's output with the pseudo classifier
    other = copy.deepcopy(head)
    strip_pseudo_classifiers(other)
    other.conv_seg.load_state_dict(head.conv_seg.pseudo.state_dict())
    assert torch.allclose(pseudo, other(feats), atol=1e-6)
    assert not torch.allclose(pseudo, main)


@HEADS
def test_each_loss_trains_only_its_classifier(make):
    """Labeled images train the main classifier, the strong view the pseudo
    one (the anchor's ``model(img_us, return_pseudo_pred=True)``)."""
    head, feats = make()
    head.eval()  # the same dropout draw in both passes
    conv = attach_pseudo_classifier(head)
    main, pseudo = forward_dual(head, feats)
    (main[:1].sum() + pseudo[1:].square().sum()).backward()
    g_main, g_pseudo = conv.weight.grad.clone(), conv.pseudo.weight.grad.clone()
    head.zero_grad()
    main, pseudo = forward_dual(head, feats)
    main[:1].sum().backward()
    assert torch.equal(conv.weight.grad, g_main)
    assert conv.pseudo.weight.grad is None or not conv.pseudo.weight.grad.any()
    assert g_pseudo.any()


def test_mmseg_init_weights_draws_both_classifiers():
    head, _ = _fcn()
    conv = attach_pseudo_classifier(head)
    with torch.no_grad():
        conv.weight.fill_(5)
        conv.pseudo.weight.fill_(5)
        conv.pseudo.bias.fill_(1)
    head.init_weights()  # BaseDecodeHead: Normal(std=0.01) override of conv_seg
    for w in (conv.weight, conv.pseudo.weight):
        assert float(w.abs().max()) < 0.1
    assert not torch.equal(conv.weight, conv.pseudo.weight)
    assert not conv.pseudo.bias.any()


def test_merge_and_strip_leave_a_plain_mmseg_head():
    head, feats = _aspp()
    head.eval()
    conv = attach_pseudo_classifier(head)
    main_w, pseudo_w = conv.weight.detach().clone(), conv.pseudo.weight.detach().clone()
    assert merge_pseudo_classifiers(head, 0.3) == 1
    assert torch.allclose(conv.weight, 0.3 * pseudo_w + 0.7 * main_w, atol=1e-7)
    assert torch.equal(conv.pseudo.weight, pseudo_w)
    merged = head(feats)
    # the state-dict route (export) and the module route give the same plain head
    kept, dropped = drop_pseudo_classifier_keys(
        {f'decode_head.{k}': v for k, v in head.state_dict().items()})
    assert sorted(dropped) == ['decode_head.conv_seg.pseudo.bias',
                               'decode_head.conv_seg.pseudo.weight']
    assert strip_pseudo_classifiers(head) == 1
    assert type(head.conv_seg) is torch.nn.Conv2d
    fresh = _aspp()[0].eval()
    fresh.load_state_dict(head.state_dict(), strict=True)
    assert torch.equal(fresh(feats), merged)
    assert {f'decode_head.{k}' for k in fresh.state_dict()} == set(kept)
    assert drop_pseudo_classifier_keys({'conv_seg.pseudo.weight': 0, 'conv_seg.weight': 1}) == \
        ({'conv_seg.weight': 1}, ['conv_seg.pseudo.weight'])


def test_misuse_is_refused():
    head, feats = _fcn()
    with pytest.raises(TypeError, match='attach_pseudo_classifier'):
        forward_dual(head, feats)
    attach_pseudo_classifier(head)
    with pytest.raises(ValueError, match='already'):
        attach_pseudo_classifier(head)
    with pytest.raises(TypeError, match='conv_seg'):
        attach_pseudo_classifier(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match='alpha'):
        head.conv_seg.merge(1.5)

    class TwoCalls(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_seg = torch.nn.Conv2d(2, K, 1)

        def forward(self, x):
            return self.conv_seg(x) + self.conv_seg(x)

    odd = TwoCalls()
    attach_pseudo_classifier(odd)
    with pytest.raises(RuntimeError, match='2 times'):
        forward_dual(odd, torch.randn(1, 2, 4, 4))


def _sampler(n_unlabeled, batch_size, num_labeled):
    class Sized(torch.utils.data.Dataset):
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

    ds = ConcatDataset.__new__(ConcatDataset)
    ds.datasets = [Sized(4), Sized(n_unlabeled)]
    return SemiSampler(ds, batch_size=batch_size, num_labeled=num_labeled, seed=0)


def test_merge_hook_merges_once_per_pass_over_the_unlabeled_set():
    head, _ = _fcn()
    conv = attach_pseudo_classifier(head)
    model = torch.nn.ModuleDict({'student': head})
    sampler = _sampler(n_unlabeled=22, batch_size=6, num_labeled=2)
    # 22 unlabeled images, 4 per iteration, last batch kept: 6 iterations
    assert ClassifierMergeHook.pass_length(sampler) == 6
    sampler.world_size = 2  # 8 per iteration over two ranks
    assert ClassifierMergeHook.pass_length(sampler) == 3
    sampler.world_size = 1
    runner = SimpleNamespace(model=model, iter=0, logger=MMLogger.get_current_instance(),
                             train_dataloader=SimpleNamespace(sampler=sampler))
    hook = ClassifierMergeHook(alpha=0.5)
    hook.before_train(runner)
    merged_at = []
    for it in range(13):
        before = conv.weight.detach().clone()
        runner.iter = it
        hook.after_train_iter(runner, it)
        if not torch.equal(before, conv.weight):
            merged_at.append(it)
    assert merged_at == [5, 11]
    with pytest.raises(TypeError, match='SemiSampler'):
        ClassifierMergeHook.pass_length(object())
    with pytest.raises(TypeError, match='no pseudo classifier'):
        ClassifierMergeHook().before_train(SimpleNamespace(model=_fcn()[0]))


def test_merging_student_and_teacher_keeps_the_teacher_their_ema():
    """The merge is affine, so merging an EMA teacher alongside its student
    commutes with the EMA update."""
    s, _ = _fcn()
    attach_pseudo_classifier(s)
    t = copy.deepcopy(s)
    with torch.no_grad():
        for p in t.parameters():
            p.add_(torch.randn_like(p))

    def ema(t, s, d=0.9):
        with torch.no_grad():
            for pt, ps in zip(t.parameters(), s.parameters()):
                pt.mul_(d).add_(ps, alpha=1 - d)

    a_t, a_s = copy.deepcopy(t), copy.deepcopy(s)
    ema(a_t, a_s)
    merge_pseudo_classifiers(a_t, 0.5)
    merge_pseudo_classifiers(s, 0.5)
    merge_pseudo_classifiers(t, 0.5)
    ema(t, s)
    for pa, pb in zip(a_t.parameters(), t.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)
    assert isinstance(t.conv_seg, DualConvSeg)
