"""Per-pixel purification decision records: what the purifier writes, when,
and what visualize_purification.py counts and draws from them."""
import importlib.util
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub

from conftest import FIXMATCH_CONFIG, ROOT, data_options
from semiearth.models import PoEPurifyRule, VLMPurifyHead
from semiearth.models.purifiers.decision_record import (DECISIONS, KEPT, LOWERED,
                                                        NO_EVIDENCE, RAISED, RELABELLED,
                                                        build_records, decisions,
                                                        load_record, save_record)

C = 6


def _tool():
    path = osp.join(ROOT, 'tools', 'analysis_tools', 'visualize_purification.py')
    spec = importlib.util.spec_from_file_location('visualize_purification', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_decision_codes():
    t_label = torch.tensor([[0, 0, 0, 0, 0, 0]])
    t_conf = torch.tensor([[0.5, 0.5, 0.5, 0.5, 0.5, 0.5]])
    label = torch.tensor([[0, 1, 0, 0, 1, 0]])
    conf = torch.tensor([[0.5, 0.4, 0.9, 0.2, 0.9, 0.9]])
    has = torch.tensor([[True, True, True, True, True, False]])
    assert decisions(t_label, t_conf, label, conf, has).tolist() == \
        [[KEPT, RELABELLED, RAISED, LOWERED, RELABELLED, NO_EVIDENCE]]
    assert DECISIONS[NO_EVIDENCE] == 'no evidence / gated'


def _head(tmp_path, **record):
    head = VLMPurifyHead(vlm=dict(class_names=[f'c{i}' for i in range(C)]),
                         rule=dict(type='PoEPurifyRule'), evidence='online',
                         record=dict(out_dir=str(tmp_path), **record))
    gen = torch.Generator().manual_seed(0)
    evidence = torch.rand(2, C, 16, 16, generator=gen).softmax(1)
    head.get_evidence = lambda inputs, metas, coords: (
        evidence, torch.ones_like(evidence[:, 0], dtype=torch.bool))
    return head, evidence


def test_the_purifier_records_a_sample_every_interval(tmp_path):
    head, evidence = _head(tmp_path, interval=3, num_images=1)
    probs = torch.rand(2, C, 16, 16, generator=torch.Generator().manual_seed(1)).softmax(1)
    thresh = torch.full((2, 16, 16), 0.3)
    coords = torch.stack(torch.meshgrid(torch.arange(16.), torch.arange(16.), indexing='xy'))
    coords = coords[None].repeat(2, 1, 1, 1)
    metas = [dict(img_path='/d/img/a.tif'), dict(img_path='/d/img/b.tif')]
    hub = MessageHub.get_current_instance()
    results = {}
    for it in range(7):
        hub.update_info('iter', it)
        results[it] = head(probs, None, metas if it != 4 else metas[::-1], coords, thresh)
    # image a (the first seen) once per window of 3 iterations: 0, 3, 6
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob('*.npz'))
    assert files == ['iter_0000000/a.npz', 'iter_0000003/a.npz', 'iter_0000006/a.npz']
    rec = load_record(str(tmp_path / 'iter_0000003' / 'a.npz'))
    assert rec['img_path'] == '/d/img/a.tif' and rec['iteration'] == 3
    assert rec['classes'] == [f'c{i}' for i in range(C)] and 'PoEPurifyRule' in rec['rule']
    res = results[3]
    assert (rec['label'] == res.label[0].numpy()).all()
    assert np.allclose(rec['conf'], res.conf[0].numpy(), atol=1e-3)
    assert (rec['accepted'] == (res.conf[0] >= 0.3).numpy()).all()
    assert (rec['teacher_label'] == probs[0].argmax(0).numpy()).all()
    assert (rec['evidence_label'] == evidence[0].argmax(0).numpy()).all()
    assert (rec['src_coords'] == coords[0].numpy()).all()
    assert set(np.unique(rec['decision'])) <= set(range(len(DECISIONS)))
    # off by default
    assert VLMPurifyHead(vlm=dict(class_names=['a', 'b']), evidence='online').recorder is None


def _nodata_tile(nc_data):
    """An unlabeled tile with nodata (all bands 0) and ignored labels."""
    import tifffile
    names = open(osp.join(nc_data, 'splits', 'train_unlabeled_1of8.txt')).read().split()
    for name in names:
        img = tifffile.imread(osp.join(nc_data, 'img_dir', 'ms', name + '.tif'))
        nodata = ~np.any(img != 0, axis=-1)
        if 0.05 < nodata.mean() < 0.5:
            gt = cv2.imread(osp.join(nc_data, 'ann_dir', name + '.png'), cv2.IMREAD_UNCHANGED)
            return name, nodata, gt.astype(np.int64)
    pytest.skip('no unlabeled tile with nodata')


def test_visualiser_counts_match_the_record_and_skip_nodata(nc_data, tmp_path):
    """A record of a real NC Landsat tile with nodata, viewed x4 with 8 px of
    padding (as a resized, padded crop): the visualiser's legend counts are
    the record's decisions over the valid, labelled pixels; nodata, padding
    and ignored pixels are in no count and no share."""
    name, nodata_src, gt_src = _nodata_tile(nc_data)
    h = w = 4 * nodata_src.shape[0] + 8
    ys, xs = np.mgrid[:h, :w]
    sx, sy = xs // 4, ys // 4
    pad = (sx >= nodata_src.shape[1]) | (sy >= nodata_src.shape[0])
    coords = torch.from_numpy(np.stack([np.where(pad, -1, sx), np.where(pad, -1, sy)])).float()
    gen = torch.Generator().manual_seed(3)
    probs = (3 * torch.randn(1, C, h, w, generator=gen)).softmax(1)
    evidence = (3 * torch.randn(1, C, h, w, generator=gen)).softmax(1)
    has = torch.rand(1, h, w, generator=gen) > 0.2
    thresh = torch.full((1, h, w), 0.9)
    label, conf = PoEPurifyRule()(probs, evidence, has, thresh)
    arrays = build_records(probs, evidence, has, thresh, label, conf, coords[None])[0]
    path = str(tmp_path / 'rec' / f'{name}.npz')
    save_record(path, arrays, f'/anywhere/{name}.tif', 5, 'PoEPurifyRule()',
                [f'c{i}' for i in range(C)], note='test')

    tool = _tool()
    opts = data_options(nc_data, semi=True)
    out = tmp_path / 'vis'
    report = tool.main([FIXMATCH_CONFIG, '--records', str(tmp_path / 'rec'), '--out-dir',
                        str(out), '--cfg-options', *opts])
    assert osp.isfile(out / f'{name}_iter5.png')
    counts = report[f'{name}_iter5']
    assert json.load(open(out / 'purification_counts.json'))['records'][f'{name}_iter5'] \
        == counts

    # independent count: valid = inside the tile, not nodata, ground truth not ignored
    inside = ~pad
    gt_view = np.where(inside, gt_src[np.minimum(sy, gt_src.shape[0] - 1),
                                      np.minimum(sx, gt_src.shape[1] - 1)], 255)
    nodata_view = ~inside | nodata_src[np.minimum(sy, nodata_src.shape[0] - 1),
                                       np.minimum(sx, nodata_src.shape[1] - 1)]
    counted = ~nodata_view & (gt_view != 255)
    assert nodata_view[inside].any() and pad.any()
    dec = arrays['decision']
    assert counts['pixels'] == counted.sum()
    assert counts['excluded']['nodata_or_padding'] == nodata_view.sum()
    for code, dname in enumerate(DECISIONS):
        row = counts['decisions'][dname]
        assert row['pixels'] == (counted & (dec == code)).sum()
        assert row['share'] == pytest.approx((counted & (dec == code)).sum() / counted.sum(),
                                             abs=1e-4)
        right = (arrays['label'] == gt_view) if code != LOWERED else \
            (arrays['label'] != gt_view)
        assert row['right'] == (counted & (dec == code) & right).sum()
        assert counts['legend'][code].startswith(f'{dname}: {row["pixels"]} px')
    assert sum(r['share'] for r in counts['decisions'].values()) == pytest.approx(1, abs=1e-3)
    assert sum(sum(v.values()) for v in counts['per_class'].values()) == counted.sum()

    # whatever the record says on nodata, padding or ignored pixels changes no count
    rec = load_record(path)
    valid, gt = tool.SourceLookup(tool.load_semi_config(FIXMATCH_CONFIG, _merge(opts))).view(rec)
    rec['decision'] = np.where(counted, rec['decision'], RELABELLED).astype(np.uint8)
    rec['accepted'] = np.where(counted, rec['accepted'], True)
    again = tool.record_counts(rec, valid, gt)
    assert again['decisions'] == {k: v for k, v in counts['decisions'].items()}
    assert again['accepted_after'] == counts['accepted_after']


def _merge(opts):
    """--cfg-options strings as the dict mmengine's DictAction makes."""
    import argparse

    from semiearth.apis.cli import CfgOptionsAction
    p = argparse.ArgumentParser()
    p.add_argument('--o', nargs='+', action=CfgOptionsAction)
    return p.parse_args(['--o', *opts]).o


def test_records_go_beside_the_run_log_by_default(tmp_path):
    import uuid

    from mmengine.logging import MMLogger
    from semiearth.models.purifiers.decision_record import DecisionRecorder
    recorder = DecisionRecorder(interval=10)
    (tmp_path / 'run').mkdir()
    MMLogger.get_instance(f'rec-{uuid.uuid4().hex}', log_file=str(tmp_path / 'run' / 'x.log'))
    assert recorder.path('/d/tile_7.tif', 20) == \
        str(tmp_path / 'run' / 'purify_records' / 'iter_0000020' / 'tile_7.npz')
    with pytest.raises(ValueError, match='interval'):
        DecisionRecorder(interval=0)


def test_a_training_step_writes_records_through_the_unchanged_segmentor(cached, tmp_path):
    """The record option needs nothing from the segmentor: a real SemiEarth
    training step (cached evidence) writes one record per sampled unlabeled
    view, with the view's source coordinates, and the visualiser renders it
    against the tile's ground truth."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    from mmseg.registry import MODELS
    cfg = Config.fromfile(cached['config'])
    cfg.model.purifier.update(rule=dict(type='PoEPurifyRule'), evidence='cached',
                              record=dict(interval=100, num_images=2,
                                          out_dir=str(tmp_path / 'rec')))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader, seed=0)))
    MessageHub.get_current_instance().update_info('iter', 200)
    model.loss(**model.data_preprocessor(batch, True))
    files = sorted((tmp_path / 'rec' / 'iter_0000200').glob('*.npz'))
    assert len(files) == 2
    rec = load_record(str(files[0]))
    assert rec['decision'].shape == rec['src_coords'].shape[1:] and rec['iteration'] == 200
    assert (rec['src_coords'] >= -1).all() and (rec['src_coords'] >= 0).any()
    report = _tool().main([cached['config'], '--records', str(tmp_path / 'rec'),
                           '--out-dir', str(tmp_path / 'vis')])
    assert len(report) == 2 and all(r['pixels'] > 0 for r in report.values())
