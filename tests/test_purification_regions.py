"""The purification study's boundary / interior split and its boundary-good
simulated evidence."""
import pytest
import torch

from semiearth.apis.purification_analysis import pixel_stats, simulated_evidence, summarize
from semiearth.evaluation import boundary_band


def _gt():
    gt = torch.zeros(2, 64, 64, dtype=torch.long)
    gt[:, :, 32:] = 1
    gt[1, 40:, :] = 2
    gt[:, :4, :4] = 255
    return gt


def test_stats_split_pixels_into_band_and_interior():
    gt = _gt()
    band = boundary_band(gt)                      # d = round(0.02 * 90.5) = 2
    assert band[0].any(1).all() and band[0, :, 30:34].all() and not band[0, :, :30].any()
    label = gt.clone()
    label[band] = (label[band] + 1) % 3           # wrong exactly in the band
    accept = torch.ones_like(gt, dtype=torch.bool)
    stats = pixel_stats(label, accept, gt, band, teacher_label=gt)
    s = summarize(stats)
    has = gt != 255
    assert stats['boundary_pixels'] + stats['interior_pixels'] == stats['pixels'] == has.sum()
    assert s['all_acc_boundary'] == 0 and s['all_acc_interior'] == 1
    assert s['changed_boundary'] == 1 and s['changed_interior'] == 0
    assert s['mask_ratio_boundary'] == s['mask_ratio_interior'] == 1
    assert s['boundary_share'] == round(float((band & has).sum() / has.sum()), 4)


def test_edge_evidence_is_right_in_the_band_and_random_inside():
    gt = _gt()
    band = boundary_band(gt)
    ev = simulated_evidence(gt, 3, 1.0, boundary_px=0, random_mask=~band, seed=1)
    said = ev['probs'].argmax(1)
    has = gt != 255
    assert (said == gt)[band & has].all()
    inside = (said == gt)[~band & has].float().mean()
    assert 0.2 < inside < 0.5                     # random among 3 classes


def test_weighted_accuracy_by_hand():
    from semiearth.apis.purification_analysis import summarize_weighted, weighted_stats
    label = torch.tensor([[0, 0, 1, 1, 2]])
    gt = torch.tensor([[0, 1, 1, 255, 2]])       # right, wrong, right, no truth, right
    w = torch.tensor([[0.5, 0.25, 1.0, 0.7, 0.0]])
    stats = weighted_stats(dict(dwl=w, mt_pixel=w > 0.4, mt_batch=w * 0), label, gt)
    assert stats['w_dwl'] == 1.75 and stats['w_right_dwl'] == 1.5   # 0.7 has no truth
    assert stats['w_mt_pixel'] == 2 and stats['w_right_mt_pixel'] == 2
    s = summarize_weighted(stats, pixels=4)
    assert s['weighted_acc_dwl'] == round(1.5 / 1.75, 4) == 0.8571
    assert s['mean_weight_dwl'] == round(1.75 / 4, 4)
    assert s['weighted_acc_mt_pixel'] == 1.0 and s['mean_weight_mt_pixel'] == 0.5
    assert s['weighted_acc_mt_batch'] is None      # no weight at all: no accuracy


def test_soft_host_weights_by_hand():
    """One 64 x 64 batch of one class (the memory's size: no resampling).
    DWL's memory: the seed 1.0, 2048 x 0.5, 2048 x 0.9; bins at ranks
    round(k * 4096 / 20), k = 1..20: 0.5 for k <= 9, 0.9 for k = 10..19, 1.0.
    A 0.9 pixel exceeds 9 of 20 bins: w = 2 sigmoid(k r) - 1 with r = 0.45 and,
    at progress 0.5, k = 20 * 0.5 + 2 = 12; a 0.5 pixel exceeds none: w = 0."""
    import math

    from semiearth.apis.purification_analysis import SoftHostWeights
    label = torch.zeros(1, 64, 64, dtype=torch.long)
    conf = torch.full((1, 64, 64), 0.5)
    conf[:, :32] = 0.9
    probs = torch.stack([conf, 1 - conf], 1)        # the teacher votes class 0 everywhere
    valid = torch.ones_like(label, dtype=torch.bool)
    w = SoftHostWeights(2, dwl_progress=0.5, mt_thresh=0.85)(probs, label, conf, valid)
    expected = 2 / (1 + math.exp(-12 * 0.45)) - 1
    assert torch.allclose(w['dwl'][:, :32], torch.tensor(expected), atol=1e-6)
    assert (w['dwl'][:, 32:] == 0).all()
    assert (w['mt_pixel'] == (conf >= 0.85)).all()
    assert torch.allclose(w['mt_batch'], torch.tensor(0.5))   # half the pixels confident
    # a pixel the purifier relabelled (teacher says 0, label 1) leaves Mean
    # Teacher's mask however confident
    relabelled = label.clone()
    relabelled[0, 0, 0] = 1
    w = SoftHostWeights(2, mt_thresh=0.85)(probs, relabelled, conf, valid)
    assert w['mt_pixel'][0, 0, 0] == 0 and w['mt_batch'][0, 0, 0] == 0
    with pytest.raises(ValueError, match='dwl_progress'):
        SoftHostWeights(2, dwl_progress=2)
