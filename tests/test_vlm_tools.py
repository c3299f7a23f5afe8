"""The VLM analysis tools and the quick start's SemiEarth row, run as a user
runs them (tiny random open_clip model, no download)."""
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from conftest import ROOT, run_tool

def _teacher_ckpt(config, path):
    """A SemiEarth checkpoint (student + teacher) of an untrained model."""
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return str(path)


def test_purification_study(cached, tmp_path):
    ckpt = _teacher_ckpt(cached['config'], tmp_path / 'teacher.pth')
    out = tmp_path / 'study'
    proc = run_tool([sys.executable, 'tools/analysis_tools/purification_study.py',
                     cached['config'], ckpt, '--limit', '8', '--qualities', '0.5', '1.0',
                     '--class-qualities', '0.9', '--temperatures', '1', '--vlm',
                     '--out-dir', str(out)])
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary['simulated_evidence'] is True
    assert summary['paper_same_as_none'] is True and summary['paper_differing_pixels'] == 0
    assert set(summary['results']) == {'sim_q0.5', 'sim_q1', 'sim_cls0.9', 'sim_edge0.9', 'vlm'}
    assert set(summary['edge_evidence_use']['sim_edge0.9']) == {'paper', 'poe_T1', 'calibrated'}
    assert set(summary['results']['sim_q1']) == {'none', 'paper', 'poe_T1', 'calibrated'}
    assert set(summary['not_worse_than_teacher']) == {'paper', 'poe_T1', 'calibrated'}
    # the soft-weighting hosts: DWL's weights and Mean Teacher's mask, per rule
    assert summary['dwl_progress'] == 0.5 and summary['mt_thresh'] == 0.97
    hosts = {'dwl', 'mt_pixel', 'mt_batch'}
    assert set(summary['weighted_not_worse_than_teacher']) == {'paper', 'poe_T1', 'calibrated'}
    for per_host in summary['weighted_not_worse_than_teacher'].values():
        assert set(per_host) == hosts and all(isinstance(v, bool) for v in per_host.values())
    for row in (r for per_rule in summary['results'].values() for r in per_rule.values()):
        for h in hosts:
            assert 0 <= row[f'mean_weight_{h}'] <= 1
            assert row[f'weighted_acc_{h}'] is None or 0 <= row[f'weighted_acc_{h}'] <= 1
    assert 'Weighted pseudo-label accuracy' in proc.stdout
    assert 'SIMULATED' in proc.stdout and osp.isfile(summary['plot'])
    full = json.load(open(out / 'purification_study.json'))['full']
    # better simulated evidence gives better purified labels
    assert full['sim_q1']['evidence_acc'] > full['sim_q0.5']['evidence_acc']
    assert full['sim_q1']['poe_T1']['all_acc'] > full['sim_q0.5']['poe_T1']['all_acc']
    # no purifier does not depend on the evidence
    assert full['sim_q1']['none'] == full['sim_q0.5']['none'] == full['vlm']['none']
    # the released rule touches only pixels below 0.7: Mean Teacher's 0.97 mask
    # is the same as with no purifier (DWL's weights are not: it sees them all)
    for key in ('weighted_acc_mt_pixel', 'mean_weight_mt_pixel'):
        assert full['sim_q1']['paper'][key] == full['sim_q1']['none'][key]
    # perfect evidence, measured on the labeled split: the calibrated rule
    # relabels only towards the truth (no accepted pixel can be wrong there
    # that was not wrong before)
    assert full['sim_q1']['calibrated']['all_acc'] >= full['sim_q1']['none']['all_acc']


def test_visualize_purification(cached, tmp_path):
    ckpt = _teacher_ckpt(cached['config'], tmp_path / 'teacher.pth')
    proc = run_tool([sys.executable, 'tools/analysis_tools/visualize_purification.py',
                     cached['config'], ckpt, '--num', '2', '--out-dir', str(tmp_path / 'vis')])
    pngs = [line for line in proc.stdout.splitlines() if line.endswith('.png')]
    assert len(pngs) == 2
    import matplotlib.image as mpimg
    img = mpimg.imread(pngs[0])
    assert img.shape[1] > 4 * img.shape[0]  # six panels side by side


def test_quickstart_marks_semiearth_not_run_without_weights(tmp_path):
    wd = tmp_path / 'qs'
    proc = subprocess.run(
        [sys.executable, 'tools/quickstart.py', '--methods', 'semiearth', '--seeds', '0',
         '--work-dir', str(wd), '--vlm-checkpoint', str(tmp_path / 'missing.pt')],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0  # no method ran
    assert 'semiearth NOT RUN' in proc.stdout and 'missing.pt' in proc.stdout
    records = json.load(open(wd / 'results.json'))
    assert records == [dict(method='semiearth', config=records[0]['config'],
                            status='not run', reason=records[0]['reason'])]
    assert 'does not exist' in records[0]['reason']


def test_tools_normalise_with_the_segmentors_preprocessor():
    """Zoo SemiEarth configs leave model.data_preprocessor unset (the wrapper
    takes the segmentor's); the tools must normalise the same way."""
    import numpy as np
    from semiearth.apis import model_data_preprocessor, normalize_image
    path = osp.join(ROOT, 'configs/semiearth/'
                    'semiearth_dpt-dinov2-s_4xb8-4k_vaihingen-1of8-518x518.py')
    cfg = Config.fromfile(path)
    assert cfg.model.get('data_preprocessor') is None
    dp = model_data_preprocessor(cfg)
    assert dp['mean'] == [123.675, 116.28, 103.53] and dp['bgr_to_rgb']
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 255  # blue
    x = normalize_image(bgr, cfg)
    assert x.shape == (1, 3, 2, 2)
    torch.testing.assert_close(x[0, :, 0, 0], torch.tensor(
        [-123.675 / 58.395, -116.28 / 57.12, (255 - 103.53) / 57.375]))
    cfg.model.segmentor.data_preprocessor.mean = None
    with pytest.raises(ValueError, match=r'vaihingen-1of8-518x518\.py: no data preprocessor '
                       r'with mean/std.*Fix'):
        model_data_preprocessor(cfg)


@pytest.mark.timeout(600)
def test_quickstart_continues_from_the_supervised_checkpoint(tmp_path, nc_data, mbv2_ms6):
    """Stage 2 starts from stage 1's best checkpoint of the same seed, with
    its own schedule; results.json keeps the documented keys and pairs each
    method with its baseline."""
    wd = tmp_path / 'qs'
    proc = subprocess.run(
        [sys.executable, 'tools/quickstart.py', '--methods', 'supervised_continued',
         '--seeds', '0', '--max-iters', '3', '--continue-iters', '3', '--num-vis', '1',
         '--work-dir', str(wd), '--data-root', nc_data, '--cfg-options',
         f'model.backbone.init_cfg.checkpoint={mbv2_ms6}'],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert 'running supervised too' in proc.stdout
    records = {r['method']: r for r in json.load(open(wd / 'results.json'))}
    assert set(records) == {'supervised', 'supervised_continued'}
    cont = records['supervised_continued']
    for key in ('init', 'iterations', 'seeds', 'miou_per_seed', 'val_miou_per_seed',
                'per_class_iou', 'pseudo_labels', 'paired_diff', 'checkpoints'):
        assert key in cont, key
    assert cont['iterations'] == 3 and cont['init'].startswith('supervised')
    assert cont['paired_diff']['vs'] == 'supervised'
    # Boundary IoU of every seed's test, beside its mIoU (BoundaryIoUMetric's mBoundaryIoU)
    for r in records.values():
        assert len(r['boundary_miou_per_seed']) == len(r['miou_per_seed'])
        assert all(0 <= v <= 1 for v in r['boundary_miou_per_seed'])
        assert abs(r['boundary_miou_mean'] - sum(r['boundary_miou_per_seed']) / len(r['seeds'])) < 1e-9
    assert 'Boundary IoU' in proc.stdout
    log = open(wd / 'supervised_continued' / 'seed0' / 'train.log').read()
    start = records['supervised']['checkpoints'][0]
    assert f'Load checkpoint from {start}' in log
    # the last step maps the whole scene with each method's checkpoint
    scene = json.load(open(wd / 'scene_maps.json'))
    assert set(scene) == {'supervised', 'supervised_continued'}
    assert all(osp.isfile(wd / f'scene_{m}.tif') for m in scene)
    assert osp.isfile(wd / 'scene_maps.png') and 'scene_maps.png' in proc.stdout
