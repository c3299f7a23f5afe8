"""The purification study's boundary / interior split and its boundary-good
simulated evidence."""
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
