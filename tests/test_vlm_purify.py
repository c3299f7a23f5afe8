"""VLM-PP: purification rules, the purifier head, cached evidence, and their
place in SemiEarthSegmentor's training step."""
import json
import math
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import DATASETS, MODELS

from conftest import run_tool, write_semiearth_config
from semiearth.engine import ConfigCheckHook
from semiearth.models import CalibratedPurifyRule, PaperPurifyRule, PoEPurifyRule
from semiearth.vlm.calibration import fit_confusion
from semiearth.vlm import DenseCLIP
from semiearth.vlm.evidence_cache import EvidenceCache, cache_key

C = 6


def _probs(conf, label, c=C):
    """(1, c, n) probabilities: ``conf`` on ``label``, the rest spread evenly."""
    conf, label = torch.tensor(conf), torch.tensor(label)
    p = ((1 - conf) / (c - 1))[None].repeat(c, 1)
    p[label, torch.arange(len(label))] = conf
    return p[None, :, None, :]  # (1, C, 1, n)


# ------------------------------------------------------------------ rules
def test_paper_rule_matches_the_released_formula():
    # pixels: mismatch below 0.3; agreement below 0.3; mismatch at 0.5; 0.8 untouched
    probs = _probs([0.2, 0.2, 0.5, 0.8], [0, 1, 2, 3])
    vlm_label = torch.tensor([4, 1, 5, 0])
    evidence = _probs([0.9] * 4, vlm_label.tolist())
    label, conf = PaperPurifyRule()(probs, evidence, torch.ones(1, 1, 4, dtype=torch.bool))
    e = math.exp(0.95)
    q_max, q_other = e / (e + C - 1), 1 / (e + C - 1)
    a = [0.2 / 0.7, 0.5 / 0.7]
    expected_conf = [q_max,                              # mismatch: max q
                     a[0] * 0.2 + (1 - a[0]) * q_max,     # agreement: fused with q[label]
                     a[1] * 0.5 + (1 - a[1]) * q_other,   # c >= 0.3: fused, label kept
                     0.8]                                 # c >= tau_vlm: untouched
    assert label[0, 0].tolist() == [4, 1, 2, 3]
    torch.testing.assert_close(conf[0, 0], torch.tensor(expected_conf), atol=1e-6, rtol=0)


def test_paper_rule_never_changes_what_passes_095():
    torch.manual_seed(0)
    probs = torch.randn(4, C, 32, 32).mul(3).softmax(1)
    evidence = torch.randn(4, C, 32, 32).mul(20).softmax(1)  # very confident VLM
    conf0, label0 = probs.max(1)
    label, conf = PaperPurifyRule()(probs, evidence, torch.ones(4, 32, 32, dtype=torch.bool))
    assert (label != label0).any()  # it does relabel pixels...
    assert torch.equal(conf >= 0.95, conf0 >= 0.95)  # ...but none of them passes
    assert torch.equal(label[conf >= 0.95], label0[conf0 >= 0.95])
    touched = conf0 < 0.7
    assert conf[touched].max() < 0.7
    # q_from='probs' uses the evidence itself: a confident VLM can then pass 0.95
    label_p, conf_p = PaperPurifyRule(q_from='probs')(
        probs, evidence, torch.ones(4, 32, 32, dtype=torch.bool))
    assert (conf_p[touched] >= 0.95).any()


def _thresh(value, shape):
    return torch.full(shape, value)


def test_released_vlm_map_on_free_form_masks():
    """q as the release forms it (C = 6): mask_logit 0.95 in each mask's
    class channel (overlaps of one class: a max, 0.95), softmax over channels.
    One mask: e^.95 / (e^.95 + 5) = 0.3409; two classes: e^.95 / (2 e^.95 +
    4) = 0.2819 each; outside every mask: 1/6; an image without any mask:
    q = 0 (no softmax)."""
    from semiearth.models.purifiers.purify_rules import released_vlm_map
    masks = torch.zeros(2, C, 1, 4)
    masks[0, 2, 0, 0] = 1                     # pixel 0: one mask of class 2
    masks[0, 2, 0, 1] = 1                     # pixel 1: two overlapping class-2
    masks[0, 1, 0, 2] = masks[0, 3, 0, 2] = 1  # pixel 2: classes 1 and 3
    # pixel 3: outside every mask; image 1: no mask at all
    q = released_vlm_map(masks)
    e = math.exp(0.95)
    one, two, rest2 = e / (e + 5), e / (2 * e + 4), 1 / (2 * e + 4)
    torch.testing.assert_close(q[0, :, 0, 0], torch.tensor([1 / (e + 5)] * 2 + [one] + [1 / (e + 5)] * 3))
    torch.testing.assert_close(q[0, :, 0, 1], q[0, :, 0, 0])
    torch.testing.assert_close(q[0, :, 0, 2], torch.tensor([rest2, two, rest2, two, rest2, rest2]))
    torch.testing.assert_close(q[0, :, 0, 3], torch.full((C,), 1 / 6))
    assert (q[1] == 0).all()
    assert one == pytest.approx(0.3409, abs=1e-4) and two == pytest.approx(0.2819, abs=1e-4)


def test_paper_rule_on_free_form_masks_as_released():
    """The released semantics with q_from='binary' (c = teacher confidence):
    gate max q > 0.1; mismatch (c < 0.3, argmax q != label) first: label :=
    argmax q, conf := max q; otherwise for c < 0.7 conf := a c + (1 - a)
    q[label], a = c / 0.7. Ties in q go to the lowest class; outside every
    mask q = 1/6 > 0.1 counts as 'detected class 0'; no mask: untouched."""
    masks = torch.zeros(2, C, 1, 5)
    masks[0, 2, 0, 0] = 1
    masks[0, 1, 0, 1] = masks[0, 3, 0, 1] = 1
    masks[0, 2, 0, 4] = 1
    # teacher: label 4 at 0.2 on pixels 0-2, label 0 at 0.5 on pixel 3,
    # label 2 at 0.8 on pixel 4 (above tau: untouched)
    probs = torch.cat([_probs([0.2, 0.2, 0.2, 0.5, 0.8], [4, 4, 4, 0, 2])] * 2)
    rule = PaperPurifyRule(q_from='binary')
    label, conf = rule(probs, masks, torch.zeros(2, 1, 5, dtype=torch.bool))
    e = math.exp(0.95)
    a = 0.5 / 0.7
    assert label[0, 0].tolist() == [2, 1, 0, 0, 2]
    torch.testing.assert_close(conf[0, 0], torch.tensor(
        [e / (e + 5), e / (2 * e + 4), 1 / 6, a * 0.5 + (1 - a) / 6, 0.8]))
    # image 1 has no detection: nothing changes
    assert label[1, 0].tolist() == [4, 4, 4, 0, 2]
    torch.testing.assert_close(conf[1, 0], torch.tensor([0.2, 0.2, 0.2, 0.5, 0.8]))
    # with 12 classes, outside a mask q = 1/12 < 0.1: the gate keeps the teacher's
    c12 = 12
    masks12 = torch.zeros(1, c12, 1, 2)
    masks12[0, 5, 0, 0] = 1
    label, conf = rule(_probs([0.2, 0.2], [4, 4], c12), masks12,
                       torch.zeros(1, 1, 2, dtype=torch.bool))
    assert label[0, 0].tolist() == [5, 4]
    assert conf[0, 0, 1] == pytest.approx(0.2)


def test_poe_rule_formula_and_where_it_acts():
    # teacher unsure (0.8) and VLM (0.9) agree -> above the threshold
    # teacher unsure (0.5 on 0), VLM confident (0.98 on 3) -> relabelled to 3
    # teacher confident (0.97 on 1), VLM says 5 -> untouched
    # teacher unsure, but no evidence there -> untouched
    probs = _probs([0.8, 0.5, 0.97, 0.6], [2, 0, 1, 4])
    evidence = _probs([0.9, 0.98, 0.99, 0.99], [2, 3, 5, 0])
    has = torch.tensor([[[True, True, True, False]]])
    thresh = _thresh(0.95, (1, 1, 4))
    rule = PoEPurifyRule(temperature=1.0)
    label, conf = rule(probs, evidence, has, thresh)
    fused = (probs.log() + evidence.log()).softmax(1)
    assert label[0, 0].tolist() == [2, 3, 1, 4]
    torch.testing.assert_close(conf[0, 0, :2], fused.max(1).values[0, 0, :2])
    assert conf[0, 0, 0] > 0.95 and conf[0, 0, 1] > 0.9
    torch.testing.assert_close(conf[0, 0, 2:], torch.tensor([0.97, 0.6]))
    # a high temperature tempers the VLM: the teacher's label stays
    label_t, _ = PoEPurifyRule(temperature=100.0)(probs, evidence, has, thresh)
    assert label_t[0, 0, 1] == 0
    # min_vlm_conf: an unsure VLM is ignored
    label_m, conf_m = PoEPurifyRule(min_vlm_conf=0.99)(probs, evidence, has, thresh)
    assert label_m[0, 0, 1] == 0 and conf_m[0, 0, 1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match='temperature'):
        PoEPurifyRule(temperature=0)


def test_poe_rule_uses_the_segmentors_per_pixel_threshold():
    """The rule acts exactly where c < thresh (the threshold the segmentor
    passes, e.g. self-adaptive per class): a pixel at 0.8 with threshold 0.7
    is already accepted and stays as it is; at threshold 0.9 it is fused;
    c == thresh counts as accepted."""
    probs = _probs([0.8, 0.8, 0.5], [2, 2, 1])
    evidence = _probs([0.9, 0.9, 0.9], [3, 3, 3])
    has = torch.ones(1, 1, 3, dtype=torch.bool)
    label, conf = PoEPurifyRule()(probs, evidence, has, torch.tensor([[[0.7, 0.9, 0.5]]]))
    assert label[0, 0].tolist() == [2, 3, 1]
    assert conf[0, 0, 0] == pytest.approx(0.8) and conf[0, 0, 2] == pytest.approx(0.5)
    assert 'conf_thresh' not in PoEPurifyRule.__init__.__code__.co_varnames


def test_poe_rule_leaves_accepted_pixels_alone_on_random_inputs():
    torch.manual_seed(1)
    probs = torch.randn(2, C, 16, 16).mul(4).softmax(1)
    evidence = torch.randn(2, C, 16, 16).mul(4).softmax(1)
    has = torch.rand(2, 16, 16) > 0.3
    conf0, label0 = probs.max(1)
    label, conf = PoEPurifyRule()(probs, evidence, has, _thresh(0.95, (2, 16, 16)))
    keep = (conf0 >= 0.95) | ~has
    assert torch.equal(label[keep], label0[keep]) and torch.equal(conf[keep], conf0[keep])
    assert (label[~keep] != label0[~keep]).any()


def test_fit_confusion_counts_labeled_pixels_with_smoothing():
    """P(VLM says j | true k) = (n_kj + a) / (n_k + C a), ignore pixels skipped.
    Class 0: 3 pixels, VLM said 0, 0, 1 -> (2+1)/(3+3), (1+1)/6, 1/6.
    Class 2: no pixel -> uniform 1/3 (no evidence)."""
    gt = torch.tensor([[0, 0, 0, 1, 255]])
    said = torch.tensor([[0, 0, 1, 1, 2]])
    m = fit_confusion(said, gt, 3, smoothing=1.0)
    torch.testing.assert_close(m, torch.tensor([[3 / 6, 2 / 6, 1 / 6],
                                                [1 / 4, 2 / 4, 1 / 4],
                                                [1 / 3, 1 / 3, 1 / 3]]))


def test_calibrated_rule_ignores_useless_evidence():
    """A VLM whose answer does not depend on the true class (every row of
    the confusion the same) changes no label and no confidence, whatever it
    says; PoE would follow a confident useless VLM."""
    torch.manual_seed(2)
    probs = torch.randn(2, C, 8, 8).mul(2).softmax(1)
    evidence = torch.randn(2, C, 8, 8).mul(20).softmax(1)   # confident, random
    has = torch.ones(2, 8, 8, dtype=torch.bool)
    thresh = _thresh(0.95, (2, 8, 8))
    row = torch.tensor([0.3, 0.1, 0.2, 0.1, 0.2, 0.1])
    rule = CalibratedPurifyRule(confusion=row.expand(C, C).tolist())
    label, conf = rule(probs, evidence, has, thresh)
    conf0, label0 = probs.max(1)
    assert torch.equal(label, label0)
    torch.testing.assert_close(conf, conf0)
    label_poe, _ = PoEPurifyRule()(probs, evidence, has, thresh)
    assert (label_poe != label0).any()


def test_calibrated_rule_uses_a_class_only_where_the_vlm_is_reliable():
    """Reliable on class 0 only: P(0|0) = 1, and for the other classes the VLM
    answers uniformly among 1..5 (never 0). Where it says 0 the pixel becomes
    class 0 with confidence 1; where it says 3 the pixel is only known not to
    be class 0: the teacher's order among 1..5 is kept (not moved to 3)."""
    conf_m = torch.zeros(C, C)
    conf_m[0, 0] = 1.0
    conf_m[1:, 1:] = 1 / (C - 1)
    rule = CalibratedPurifyRule(confusion=conf_m.tolist())
    # teacher: pixel a (0.30 on 2, 0.25 on 0), pixel b (0.30 on 0, 0.25 on 4)
    probs = torch.tensor([[0.25, 0.10, 0.30, 0.10, 0.15, 0.10],
                          [0.30, 0.10, 0.10, 0.10, 0.25, 0.15]]).t().reshape(1, C, 1, 2)
    said = torch.tensor([0, 3])
    evidence = F.one_hot(said, C).t().float().reshape(1, C, 1, 2)
    label, conf = rule(probs, evidence, torch.ones(1, 1, 2, dtype=torch.bool),
                       _thresh(0.95, (1, 1, 2)))
    assert label[0, 0].tolist() == [0, 4]
    assert conf[0, 0, 0] == pytest.approx(1.0)
    assert conf[0, 0, 1] == pytest.approx(0.25 / 0.70)  # teacher renormalised over 1..5
    # pixels the teacher accepts, or without evidence, are left alone
    label, conf = rule(probs, evidence, torch.tensor([[[True, False]]]),
                       torch.tensor([[[0.2, 0.95]]]))
    assert label[0, 0].tolist() == [2, 0] and conf[0, 0, 0] == pytest.approx(0.30)


def test_calibrated_rule_needs_its_calibration():
    rule = CalibratedPurifyRule()
    probs = torch.full((1, C, 2, 2), 1 / C)
    with pytest.raises(RuntimeError, match='precompute_vlm.py'):
        rule(probs, probs, torch.ones(1, 2, 2, dtype=torch.bool), _thresh(0.95, (1, 2, 2)))
    rule = CalibratedPurifyRule(torch.eye(3))
    with pytest.raises(ValueError, match='for 6 classes'):
        rule(probs, probs, torch.ones(1, 2, 2, dtype=torch.bool), _thresh(0.95, (1, 2, 2)))


def test_unsure_vlm_is_no_evidence_not_background_certainty():
    """LoveDA-style bg_thresh: where the VLM's best probability is under it,
    the pixel has no evidence. Teacher (0.05, 0.50, 0.45), VLM unsure
    (0.25, 0.40, 0.35) with bg_thresh 0.5, bg_class 0: the pixel keeps the
    teacher's label 1 at 0.5 (one-hot background evidence would have made it
    class 0 at confidence ~1.0, accepted). A confident VLM pixel is used."""
    from semiearth.models import VLMPurifyHead
    head = VLMPurifyHead(vlm=dict(class_names=['background', 'building', 'road'],
                                  bg_thresh=0.5, bg_class=0),
                         rule=dict(type='PoEPurifyRule'), evidence='online')
    probs = torch.tensor([[0.05, 0.50, 0.45], [0.05, 0.50, 0.45]]).t().reshape(1, 3, 1, 2)
    evidence = torch.tensor([[0.25, 0.40, 0.35], [0.02, 0.08, 0.90]]).t().reshape(1, 3, 1, 2)
    label, conf, log = head.purify(probs, evidence, torch.ones(1, 1, 2, dtype=torch.bool),
                                   torch.full((1, 1, 2), 0.95))
    assert label[0, 0].tolist() == [1, 2]
    assert conf[0, 0, 0] == pytest.approx(0.5)
    fused = torch.tensor([0.05 * 0.02, 0.5 * 0.08, 0.45 * 0.9])
    assert conf[0, 0, 1] == pytest.approx((fused / fused.sum()).max().item(), rel=1e-5)
    assert log['vlm.evidence_ratio'] == pytest.approx(0.5)


# ------------------------------------------------------------ the cache
def test_precompute_writes_float16_maps_and_keeps_them(cached):
    cfg = Config.fromfile(cached['config'])
    with open(osp.join(cached['cache_dir'], 'meta.json')) as f:
        meta = json.load(f)
    names = {}
    for part in ('unlabeled', 'labeled'):
        ds = cfg.train_dataloader.dataset[part]
        names[part] = [line.strip() for line in open(osp.join(ds.data_root, ds.ann_file))
                       if line.strip()]
    # labeled images are cached too (the calibration measures the VLM on them)
    assert sorted(meta['images']) == sorted(names['unlabeled'] + names['labeled'])
    arr = np.load(osp.join(cached['cache_dir'], names['unlabeled'][0] + '.npy'))
    assert arr.dtype == np.float16 and arr.shape == (C, 32, 32)
    # class probabilities: each class its best synonym's share of one
    # softmax over all synonym queries (SegEarth-OV), so they sum to <= 1
    total = arr.astype(np.float32).sum(0)
    assert (arr >= 0).all() and (total <= 1 + 5e-3).all() and (total > 0.2).all()
    n = len(names['unlabeled']) + len(names['labeled'])
    assert f'{n} to compute' in cached['log']
    # the calibration: P(VLM says j | true k) on the labeled pixels
    with open(osp.join(cached['cache_dir'], 'calibration.json')) as f:
        cal = json.load(f)
    assert cal['labeled'] == sorted(names['labeled'])
    confusion = torch.tensor(cal['confusion'])
    assert confusion.shape == (C, C)
    torch.testing.assert_close(confusion.sum(1), torch.ones(C))
    assert sum(cal['pixels_per_class']) > 1000
    assert 'VLM accuracy per class on the labeled pixels' in cached['log']
    # a second run keeps every map
    mtime = os.path.getmtime(osp.join(cached['cache_dir'], names['unlabeled'][0] + '.npy'))
    proc = run_tool([sys.executable, 'tools/precompute_vlm.py', cached['config']])
    assert f'0 to compute, {n} kept' in proc.stdout
    assert os.path.getmtime(osp.join(cached['cache_dir'],
                                     names['unlabeled'][0] + '.npy')) == mtime


def _unlabeled_dataset(config, pipeline_tail):
    cfg = Config.fromfile(config)
    unl = cfg.train_dataloader.dataset.unlabeled
    load = [t for t in unl.pipeline if t['type'] in ('LoadRSImageFromFile',)]
    unl.pipeline = load + pipeline_tail
    return cfg, DATASETS.build(unl)


@pytest.mark.parametrize('downsample,tol', [(1, 2e-3), (2, 0.08)])
def test_cached_evidence_follows_the_weak_view_geometry(cached, nc_data, tiny_clip_ckpt,
                                                        downsample, tol, tmp_path):
    """The cached map looked up through the view's source coordinates equals
    the online map of the whole tile pushed through the same resize, crop and
    flip (float16 storage: 2e-3; x2 downsampling: 0.08 mean abs)."""
    cache_dir = cached['cache_dir']
    config = cached['config']
    if downsample != 1:
        cache_dir = str(tmp_path / 'cache2')
        config = write_semiearth_config(tmp_path / 'cfg2.py', nc_data, cache_dir,
                                        tiny_clip_ckpt, downsample=downsample)
        run_tool([sys.executable, 'tools/precompute_vlm.py', config])
    geometry = [dict(type='RandomResize', scale=(128, 128), ratio_range=(0.5, 2.0),
                     keep_ratio=True),
                dict(type='RandomCrop', crop_size=(96, 96)),
                dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical'])]
    cfg, ds_coords = _unlabeled_dataset(config, [dict(type='AddSourceCoords'), *geometry])
    _, ds_plain = _unlabeled_dataset(config, [])
    purifier = MODELS.build(cfg.model.purifier)
    vlm = MODELS.build(cfg.model.purifier.vlm)
    from semiearth.apis import normalize_image
    from mmseg.datasets.transforms import RandomFlip
    from mmcv.transforms import Compose
    flips = 0
    for idx in range(6):
        np.random.seed(idx)
        view = ds_coords[idx]
        coords = torch.from_numpy(view['src_coords']).permute(2, 0, 1)[None]
        got, has = purifier.cache.sample([view['img_path']], [view['ori_shape']], coords)
        # online evidence of the whole tile, put through the same transforms
        tile = ds_plain[idx]
        online = vlm(normalize_image(tile['img'], cfg))[0].permute(1, 2, 0).numpy()
        np.random.seed(idx)
        moved = Compose([TRANSFORMS_BUILD(t) for t in geometry])(
            dict(img=tile['img'], evidence=online, seg_fields=['evidence'],
                 img_shape=tile['img'].shape[:2]))
        expected = torch.from_numpy(moved['evidence']).permute(2, 0, 1)
        assert got.shape[1:] == (C, 96, 96) and has.all()
        diff = (got[0] - expected).abs()
        if downsample == 1:
            assert diff.max() < tol, diff.max()
        else:
            assert diff.mean() < tol, diff.mean()
        flips += bool(moved.get('flip'))
    assert flips > 0  # the check covered flipped views too


def TRANSFORMS_BUILD(cfg):
    from mmseg.registry import TRANSFORMS
    return TRANSFORMS.build(cfg)


def test_bad_caches_are_clear_errors(cached, nc_data, tiny_clip_ckpt, tmp_path):
    cfg = Config.fromfile(cached['config'])
    names = sorted(json.load(open(osp.join(cached['cache_dir'], 'meta.json')))['images'])
    vlm_cfg = cfg.model.purifier.vlm
    fp = DenseCLIP.settings_fingerprint(**vlm_cfg)
    keys = list(json.load(open(osp.join(cached['cache_dir'], 'meta.json')))['classes'])
    with pytest.raises(FileNotFoundError, match='precompute_vlm.py'):
        EvidenceCache(str(tmp_path / 'nowhere'), fp, keys)
    # another VLM configuration: stale
    other = DenseCLIP.settings_fingerprint(**dict(vlm_cfg, attention='maskclip'))
    with pytest.raises(ValueError, match='stale'):
        EvidenceCache(cached['cache_dir'], other, keys)
    cache = EvidenceCache(cached['cache_dir'], fp, keys)
    with pytest.raises(KeyError, match="no map for image.*stale"):
        cache.load('data/x/not_cached.tif', (32, 32))
    with pytest.raises(ValueError, match='stale'):
        cache.load(f'a/{names[0]}.tif', (40, 32))
    # a map of the wrong shape
    bad_dir = tmp_path / 'bad'
    bad_dir.mkdir()
    meta = json.load(open(osp.join(cached['cache_dir'], 'meta.json')))
    json.dump(meta, open(bad_dir / 'meta.json', 'w'))
    np.save(bad_dir / f'{names[0]}.npy', np.zeros((C + 1, 32, 32), np.float16))
    with pytest.raises(ValueError, match='shape'):
        EvidenceCache(str(bad_dir), fp, keys).load(f'a/{names[0]}.tif', (32, 32))
    # cached mode needs the source coordinates
    purifier = MODELS.build(cfg.model.purifier)
    with pytest.raises(ValueError, match='AddSourceCoords'):
        purifier(torch.rand(1, C, 8, 8).softmax(1), torch.zeros(1, 6, 8, 8),
                 [dict(img_path=f'a/{names[0]}.tif', ori_shape=(32, 32))], None,
                 torch.full((1, 8, 8), 0.95))


def test_class_names_must_match_the_dataset(cached):
    cfg = Config.fromfile(cached['config'])
    cfg.model.purifier.vlm.class_names = 'potsdam'
    model = MODELS.build(cfg.model)

    class _Runner:
        pass
    runner = _Runner()
    runner.model = model
    runner.train_dataloader = type('DL', (), {'dataset': DATASETS.build(
        cfg.train_dataloader.dataset.labeled)})()
    with pytest.raises(ValueError, match="impervious_surface.*do not match.*developed"):
        ConfigCheckHook().before_train(runner)
    cfg.model.purifier.vlm.class_names = 'nc_landsat'
    runner.model = MODELS.build(cfg.model)
    ConfigCheckHook().before_train(runner)


def test_vlm_normalisation_must_match_the_preprocessor(cached):
    cfg = Config.fromfile(cached['config'])
    cfg.model.purifier.vlm.input_mean = [0.0] * 6
    with pytest.raises(ValueError, match='input_mean'):
        MODELS.build(cfg.model)


# -------------------------------------------------------- in training
def _train_batch(cfg):
    dl = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    return next(iter(dl))


@pytest.mark.parametrize('evidence', ['cached', 'online'])
def test_training_step_with_the_purifier(cached, evidence, monkeypatch):
    cfg = Config.fromfile(cached['config'])
    cfg.model.purifier.evidence = evidence
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    seen = {}
    forward = type(model.purifier).forward

    def spy(self, probs, inputs, img_metas, src_coords, thresh):
        seen.update(probs=probs, metas=img_metas, coords=src_coords, thresh=thresh)
        return forward(self, probs, inputs, img_metas, src_coords, thresh)
    monkeypatch.setattr(type(model.purifier), 'forward', spy)
    batch = _train_batch(cfg)
    data = model.data_preprocessor(batch, True)
    losses = model.loss(**data)
    for key in ('vlm.changed_label_ratio', 'vlm.changed_accept_ratio', 'vlm.agree_ratio',
                'pseudo_before.acc_all', 'pseudo.acc_all', 'pseudo.mask_ratio'):
        assert key in losses, key
    assert 0 <= losses['vlm.changed_label_ratio'] <= 1
    # the purifier gets no gradient and no label
    assert not seen['probs'].requires_grad
    assert all('gt_sem_seg' not in m for m in seen['metas'])
    assert all(not isinstance(v, torch.Tensor) for m in seen['metas'] for v in m.values())
    assert not any(p.requires_grad for p in model.purifier.parameters())
    # the segmentor's threshold reaches the rule (the rules carry none)
    assert torch.equal(seen['thresh'], torch.full_like(seen['thresh'], 0.95))
    # the frozen VLM is never part of the segmentor's state
    assert not any('clip' in k for k in model.state_dict())
    assert (evidence == 'online') == bool(model.purifier._vlm)


def test_purification_changes_the_unsupervised_loss(cached, tmp_path):
    """With evidence that agrees with the teacher, the PoE rule lets pixels
    the teacher alone would reject supervise the student; FixMatch's loss on
    the same batch has none."""
    cfg = Config.fromfile(cached['config'])
    cfg.model.semi_train_cfg.cutmix_prob = 0.0
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    batch = _train_batch(cfg)
    data = model.data_preprocessor(batch, True)
    with torch.no_grad():
        probs = model._teacher_probs(data['inputs']['unsup_weak'])
    # evidence: the teacher's own argmax, very confident
    agree = F.one_hot(probs.argmax(1), C).permute(0, 3, 1, 2).float() * (1 - 6e-6) + 1e-6
    model.purifier.rule = PoEPurifyRule(temperature=1.0)

    def fake(inputs, img_metas, src_coords):
        return agree, torch.ones_like(agree[:, 0], dtype=torch.bool)
    model.purifier.get_evidence = fake
    with_vlm = model.loss(**data)
    assert with_vlm['vlm.changed_accept_ratio'] > 0.5
    assert with_vlm['pseudo.mask_ratio'] > with_vlm['pseudo_before.mask_ratio']
    assert with_vlm['unsup.loss_ce'] > 0
    purifier, model.purifier = model.purifier, None
    without = model.loss(**data)
    assert without['unsup.loss_ce'] < with_vlm['unsup.loss_ce']
    # the paper rule on the same evidence changes no acceptance
    model.purifier = purifier
    purifier.rule = PaperPurifyRule()
    paper = model.loss(**data)
    assert paper['vlm.changed_accept_ratio'] == 0
    torch.testing.assert_close(paper['unsup.loss_ce'], without['unsup.loss_ce'])


def test_calibrated_rule_in_training_reads_the_labeled_set_calibration(cached, tmp_path):
    """The calibrated rule takes P(VLM says j | true k) that precompute_vlm.py
    measured on the labeled images; without that file training fails at the
    first step, saying how to make it."""
    cfg = Config.fromfile(cached['config'])
    cfg.model.purifier.rule = dict(type='CalibratedPurifyRule')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    data = model.data_preprocessor(_train_batch(cfg), True)
    losses = model.loss(**data)
    assert 'vlm.changed_label_ratio' in losses
    with open(osp.join(cached['cache_dir'], 'calibration.json')) as f:
        expected = torch.tensor(json.load(f)['confusion'])
    torch.testing.assert_close(model.purifier.rule.confusion, expected)
    # no calibration file: a clear error
    import shutil
    other = tmp_path / 'cache'
    shutil.copytree(cached['cache_dir'], other)
    os.remove(other / 'calibration.json')
    cfg.model.purifier.cache_dir = str(other)
    model = MODELS.build(cfg.model)
    model.train()
    with pytest.raises(FileNotFoundError, match='calibration.json.*precompute_vlm.py'):
        model.loss(**data)


def test_calibration_of_another_labeled_set_is_stale(cached, nc_data):
    """ConfigCheckHook, before training: the calibration must have been
    measured on this config's labeled images (here: the 1/4 split instead of
    the 1/8 one it was measured on)."""
    cfg = Config.fromfile(cached['config'])
    cfg.model.purifier.update(rule=dict(type='CalibratedPurifyRule'), evidence='cached')
    model = MODELS.build(cfg.model)
    ds = cfg.train_dataloader.dataset
    for part in (ds.labeled, ds.unlabeled):  # the 1/4 split's pair of lists
        part.ann_file = part.ann_file.replace('1of8', '1of4')
    dataset = DATASETS.build(ds)
    with pytest.raises(ValueError, match='measured on another labeled set.*precompute_vlm'):
        ConfigCheckHook._check_calibration(model, dataset)
    for part in (ds.labeled, ds.unlabeled):
        part.ann_file = part.ann_file.replace('1of4', '1of8')
    ConfigCheckHook._check_calibration(model, DATASETS.build(ds))  # the measured set: fine
