"""The write-through, memory-mapped VLM evidence cache: evidence='auto'
computes each image's map once and reads it afterwards; VLMEvidenceHook
measures the calibration before training; concurrent and killed writers
never leave a broken map; a view reads only its bounding box."""
import json
import multiprocessing
import os
import os.path as osp
import signal
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmseg.registry import MODELS

from semiearth.apis.vlm_tools import DatasetImages
from semiearth.engine import ConfigCheckHook, VLMEvidenceHook
from semiearth.vlm.evidence_cache import (EvidenceCache, cache_key, prepare_cache,
                                          remove_leftovers, write_map)

C = 6


def _auto_cfg(cached, cache_dir):
    cfg = Config.fromfile(cached['config'])
    cfg.model.purifier.update(evidence='auto', cache_dir=str(cache_dir),
                              rule=dict(type='CalibratedPurifyRule'))
    return cfg


class _Runner:
    def __init__(self, cfg, model):
        self.cfg, self.model = cfg, model


def _count_vlm_calls(purifier):
    calls = []
    vlm = purifier.vlm
    forward = vlm.forward

    def counted(x):
        calls.append(x.shape[0])
        return forward(x)
    vlm.forward = counted
    return calls


def _whole_views(images, paths):
    """Identity source coordinates of whole images (a view = the image)."""
    metas, coords = [], []
    for p in paths:
        h, w = images(p).shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                                torch.arange(w, dtype=torch.float32), indexing='ij')
        metas.append(dict(img_path=p, ori_shape=(h, w)))
        coords.append(torch.stack([xs, ys]))
    return metas, torch.stack(coords)


def test_auto_evidence_is_computed_once_per_image_then_read(cached, tmp_path):
    """No precompute: the hook measures the calibration on the labeled
    images; the first views of an unlabeled image compute its map (one VLM
    forward), later ones read it; the maps equal precompute_vlm.py's."""
    cfg = _auto_cfg(cached, tmp_path / 'cache')
    model = MODELS.build(cfg.model)
    purifier = model.purifier
    VLMEvidenceHook().before_train(_Runner(cfg, model))
    images = purifier.image_source
    assert isinstance(images, DatasetImages)
    labeled = [images.labeled.get_data_info(i)['img_path'] for i in range(len(images.labeled))]
    unlabeled = [images.unlabeled.get_data_info(i)['img_path'] for i in range(4)]
    cal = json.load(open(tmp_path / 'cache' / 'calibration.json'))
    assert cal['labeled'] == sorted(cache_key(p) for p in labeled)
    precomputed = json.load(open(osp.join(cached['cache_dir'], 'calibration.json')))
    # the same maps read the same way: the same confusion (float16 maps on both sides)
    np.testing.assert_allclose(cal['confusion'], precomputed['confusion'], atol=2e-3)
    assert not purifier.cache.has(unlabeled[0])

    calls = _count_vlm_calls(purifier)
    metas, coords = _whole_views(images, unlabeled)
    first, has = purifier.get_evidence(torch.zeros(4, 6, 32, 32), metas, coords)
    assert calls == [1, 1, 1, 1] and has.all()
    second, _ = purifier.get_evidence(torch.zeros(4, 6, 32, 32), metas, coords)
    assert calls == [1, 1, 1, 1]  # read, not computed again
    torch.testing.assert_close(first, second)
    for p in unlabeled:
        ours = np.load(tmp_path / 'cache' / f'{cache_key(p)}.npy')
        theirs = np.load(osp.join(cached['cache_dir'], f'{cache_key(p)}.npy'))
        np.testing.assert_allclose(ours.astype(np.float32), theirs.astype(np.float32),
                                   atol=2e-3)
    # a second run (a resume) finds everything and computes nothing
    mtime = os.path.getmtime(tmp_path / 'cache' / 'calibration.json')
    model2 = MODELS.build(cfg.model)
    calls2 = _count_vlm_calls(model2.purifier)
    VLMEvidenceHook().before_train(_Runner(cfg, model2))
    assert calls2 == [] and os.path.getmtime(tmp_path / 'cache' / 'calibration.json') == mtime


def test_auto_remeasures_a_stale_calibration_and_clears_another_vlm(cached, tmp_path):
    cfg = _auto_cfg(cached, tmp_path / 'cache')
    VLMEvidenceHook().before_train(_Runner(cfg, MODELS.build(cfg.model)))
    n18 = len(json.load(open(tmp_path / 'cache' / 'calibration.json'))['labeled'])
    # another labeled split: ConfigCheckHook leaves it to this hook, which re-measures
    ds = cfg.train_dataloader.dataset
    for part in (ds.labeled, ds.unlabeled):  # the 1/4 split's pair of lists
        part.ann_file = part.ann_file.replace('1of8', '1of4')
    model = MODELS.build(cfg.model)
    ConfigCheckHook._check_calibration(model, None)
    VLMEvidenceHook().before_train(_Runner(cfg, model))
    n14 = len(json.load(open(tmp_path / 'cache' / 'calibration.json'))['labeled'])
    assert n14 > n18
    images = model.purifier.image_source
    model.purifier.write_missing([images.unlabeled.get_data_info(i)['img_path']
                                  for i in range(2)])
    # another VLM configuration: its maps are deleted (and logged), not reused
    before = len(list((tmp_path / 'cache').glob('*.npy')))
    cfg.model.purifier.vlm.cls_lambda = 0.0
    model = MODELS.build(cfg.model)
    VLMEvidenceHook().before_train(_Runner(cfg, model))
    meta = json.load(open(tmp_path / 'cache' / 'meta.json'))
    assert meta['fingerprint'] == model.purifier.fingerprint
    assert len(list((tmp_path / 'cache').glob('*.npy'))) == n14 == before - 2
    # 'cached' never clears: a cache of other settings is an error naming the fix
    cfg.model.purifier.vlm.cls_lambda = 0.3
    cfg.model.purifier.evidence = 'cached'
    with pytest.raises(ValueError, match='stale.*precompute_vlm.py'):
        MODELS.build(cfg.model).purifier.cache


def test_auto_without_an_image_source_says_how_to_get_one(cached, tmp_path):
    cfg = _auto_cfg(cached, tmp_path / 'cache')
    purifier = MODELS.build(cfg.model).purifier
    with pytest.raises(RuntimeError, match="no map for 'x/tile.tif'.*VLMEvidenceHook.*"
                                           'precompute_vlm.py'):
        purifier.get_evidence(torch.zeros(1, 6, 8, 8),
                              [dict(img_path='x/tile.tif', ori_shape=(8, 8))],
                              torch.zeros(1, 2, 8, 8))


# ---------------------------------------------------------------- writers
def _writer(probs, cache_dir, rounds, started=None):
    # probs is made by the parent: a forked child must not start torch's
    # thread pool (OpenMP after fork can deadlock)
    for r in range(rounds):
        for k in range(6):
            write_map(cache_dir, f'img/{k}.tif', probs, 1)
        if started is not None:
            started.set()


def _check_whole(cache_dir, idents):
    """Every map reads completely, as one writer's values (never a mix)."""
    for k in range(6):
        arr = np.load(osp.join(cache_dir, f'{k}.npy'))
        assert arr.shape == (C, 256, 256)
        values = np.unique(arr)
        assert len(values) == 1 and values[0] * 8 in idents, values


def test_concurrent_and_killed_writers_never_leave_a_broken_map(tmp_path):
    """Several processes (ranks, workers) write the same maps while one
    reads them; then writers are SIGKILLed mid-write. Every map read is
    whole, one writer's; killed writers leave only '.partial' files, which
    nothing reads."""
    ctx = multiprocessing.get_context('fork')
    cache_dir = str(tmp_path)
    probs = {i: torch.full((C, 256, 256), float(i) / 8) for i in (1, 2, 5)}
    procs = [ctx.Process(target=_writer, args=(probs[i], cache_dir, 3)) for i in (1, 2)]
    for p in procs:
        p.start()
    reads = 0
    while any(p.is_alive() for p in procs):
        if all(osp.exists(osp.join(cache_dir, f'{k}.npy')) for k in range(6)):
            _check_whole(cache_dir, {1, 2})
            reads += 1
        time.sleep(0.01)
    assert all(p.exitcode == 0 for p in procs) and reads > 0
    _check_whole(cache_dir, {1, 2})
    for delay in (0.0, 0.02, 0.05):
        started = ctx.Event()
        p = ctx.Process(target=_writer, args=(probs[5], cache_dir, 1000, started))
        p.start()
        assert started.wait(30)
        time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        _check_whole(cache_dir, {1, 2, 5})
    names = os.listdir(cache_dir)
    assert sorted(n for n in names if n.endswith('.npy')) == [f'{k}.npy' for k in range(6)]
    assert all(n.endswith(('.npy', '.partial')) for n in names)
    # what the killed writers left is removed once stale (prepare_cache does it at start)
    partials = [osp.join(cache_dir, n) for n in names if n.endswith('.partial')]
    for path in partials:
        os.utime(path, (time.time() - 120, time.time() - 120))
    assert sorted(remove_leftovers(cache_dir)) == sorted(partials)
    assert sorted(os.listdir(cache_dir)) == [f'{k}.npy' for k in range(6)]


def test_prepare_cache_removes_partial_leftovers(tmp_path):
    """Writers killed mid-write leave '<name>.npy.<pid>.<rand>.partial' files
    (54.5 MB of them in the issue); the next start removes those untouched
    for a minute, and leaves a live writer's file alone."""
    cache_dir, classes = str(tmp_path), ['a', 'b']
    prepare_cache(cache_dir, 'fp', classes, 1)
    write_map(cache_dir, 'img/0.tif', torch.full((2, 8, 8), 0.5), 1)
    old = [tmp_path / f'{k}.npy.4242.0123abc{k}.partial' for k in range(3)]
    for path in old:
        path.write_bytes(b'\x93NUMPY half a map')
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    live = tmp_path / '5.npy.4343.89abcdef.partial'
    live.write_bytes(b'being written')
    assert prepare_cache(cache_dir, 'fp', classes, 1) == 0
    assert sorted(os.listdir(cache_dir)) == ['0.npy', live.name, 'meta.json']
    assert EvidenceCache(cache_dir, 'fp', classes).has('img/0.tif')


# ---------------------------------------------------------------- reading
def test_a_view_reads_only_its_box_and_samples_as_the_whole_map(tmp_path):
    """Memory-mapped, only the cells a view's bilinear taps reach are read:
    the result equals sampling the whole map (any scale, crop, flip, padding,
    border), and nothing is kept after the call."""
    prepare_cache(str(tmp_path), 'fp', [str(i) for i in range(C)], 2)
    cache = EvidenceCache(str(tmp_path), 'fp', [str(i) for i in range(C)])
    gen = torch.Generator().manual_seed(0)
    probs = torch.rand(C, 75, 90, generator=gen)
    arr = write_map(str(tmp_path), 'a/img.tif', probs, 2)
    assert isinstance(cache.load('a/img.tif', (75, 90)), np.memmap)
    full = torch.from_numpy(arr.astype(np.float32))
    for trial in range(12):
        scale = 0.5 + torch.rand(1, generator=gen).item() * 1.5
        ys, xs = torch.meshgrid(torch.arange(40.), torch.arange(48.), indexing='ij')
        x0, y0 = (torch.randint(-10, 80, (2,), generator=gen) * 1.0).tolist()
        xs, ys = x0 + xs / scale, y0 + ys / scale
        if trial % 2:
            xs = xs.flip(-1)
        coords = torch.stack([xs, ys])
        coords[:, :, 40:] = -1  # padding
        got, has = cache.sample(['a/img.tif'], [(75, 90)], coords[None])
        gx = (coords[0] + 0.5) / (2 * 45) * 2 - 1
        gy = (coords[1] + 0.5) / (2 * 38) * 2 - 1
        want = F.grid_sample(full[None], torch.stack([gx, gy], -1)[None], mode='bilinear',
                             padding_mode='border', align_corners=False)[0]
        assert has[0].sum() == 40 * 40
        torch.testing.assert_close(got[0][:, has[0]], want[:, has[0]], atol=1e-5, rtol=0)
    assert not hasattr(cache, '_maps')
