"""Pseudo-label diagnostics split by region: the boundary band (within d px
of a class edge of the ground truth, d from Boundary IoU's dilation ratio)
and the interior, where the paper says purification helps most."""
import torch

from semiearth.models.utils import pseudo_label_stats


def _scene():
    """Two classes meeting at column 10 of a 20 x 20 crop (d = 1: the band
    is columns 9 and 10); the last 4 rows are padding."""
    gt = torch.zeros(1, 20, 20, dtype=torch.long)
    gt[..., 10:] = 1
    valid = torch.ones_like(gt, dtype=torch.bool)
    valid[:, 16:] = False
    return gt, valid


def test_accuracy_and_acceptance_are_split_into_band_and_interior():
    gt, valid = _scene()
    label = gt.clone()
    label[..., 9:11] = 1 - label[..., 9:11]    # wrong in the band only
    accept = torch.ones_like(valid)
    accept[..., :5] = False                   # 5 of 18 interior columns rejected
    stats = {k: float(v) for k, v in pseudo_label_stats(label, accept, valid, gt).items()}
    assert stats['pseudo.acc_boundary'] == 0.0
    assert stats['pseudo.acc_interior'] == 1.0
    assert stats['pseudo.mask_ratio_boundary'] == 1.0
    assert abs(stats['pseudo.mask_ratio_interior'] - 13 / 18) < 1e-6
    # the whole: 2 wrong columns of the 15 accepted
    assert abs(stats['pseudo.acc'] - 13 / 15) < 1e-6


def test_padding_and_unknown_ground_truth_are_in_no_region():
    gt, valid = _scene()
    gt[0, 0, :] = 255                          # unknown ground truth in a row
    label = torch.full_like(gt, 1)             # everything says class 1
    label[~valid] = 0                          # padding: garbage that must not count
    accept = torch.ones_like(valid)
    stats = {k: float(v) for k, v in pseudo_label_stats(label, accept, valid, gt).items()}
    # interior: class-1 columns 11..19 right, class-0 columns 0..8 wrong, 15 known rows
    assert abs(stats['pseudo.acc_interior'] - 9 / 18) < 1e-6
    # band: column 10 right, column 9 wrong
    assert abs(stats['pseudo.acc_boundary'] - 0.5) < 1e-6


def test_a_region_without_pixels_is_left_out():
    gt = torch.zeros(1, 8, 8, dtype=torch.long)    # one class: no edge, no band
    valid = torch.ones_like(gt, dtype=torch.bool)
    stats = pseudo_label_stats(gt, valid, valid, gt)
    assert 'pseudo.acc_boundary' not in stats and 'pseudo.mask_ratio_boundary' not in stats
    assert float(stats['pseudo.acc_interior']) == 1.0


def test_the_quick_start_reads_the_region_curves(tmp_path):
    """results.json and pseudo_labels.png get the boundary / interior curves
    the segmentor logs (read back from mmengine's scalars.json)."""
    import json

    from semiearth.apis.quickstart.training_logs import REGION_KEYS, read_curves
    run = tmp_path / '20261204_000000' / 'vis_data'
    run.mkdir(parents=True)
    lines = [dict({k: 0.5 for k in REGION_KEYS}, iter=i, **{'pseudo.acc': 0.9})
             for i in (1, 2)]
    (run / 'scalars.json').write_text('\n'.join(json.dumps(x) for x in lines))
    curves = read_curves(str(tmp_path))
    assert set(REGION_KEYS) <= set(curves) and curves['pseudo.acc_boundary'] == [(1, .5), (2, .5)]
