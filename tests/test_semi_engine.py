"""Teacher-student engine: EMA hook, sampler, views, CutMix, losses."""
import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import ConcatDataset
from mmseg.registry import DATASETS

from conftest import FIXMATCH_CONFIG
from semiearth.engine import EMATeacherHook
from semiearth.models.utils import cutmix, random_cutmix_boxes
from semiearth.samplers import SemiSampler


# ----------------------------------------------------------------- EMA hook
def test_ema_schedule():
    """UniMatch-V2: ema_ratio = min(1 - 1 / (iters + 1), 0.996), iters from 0;
    decay is the teacher's weight."""
    hook = EMATeacherHook()
    assert hook.decay_at(0) == 0.0  # first update copies the student
    assert hook.decay_at(1) == pytest.approx(0.5)
    assert hook.decay_at(9) == pytest.approx(0.9)
    assert hook.decay_at(10_000) == pytest.approx(0.996)
    assert EMATeacherHook(decay=0.99).decay_at(0) == 0.99
    assert EMATeacherHook(max_decay=0.99).decay_at(10_000) == pytest.approx(0.99)
    with pytest.raises(ValueError, match='decay'):
        EMATeacherHook(decay=1.0)


def test_ema_hook_refuses_mmdet_momentum():
    """mmdet's MeanTeacherHook(momentum=0.001) is the student's weight; taken
    as the teacher's it would make the teacher a copy of the student."""
    with pytest.raises(TypeError, match=r"no \['momentum'\].*decay = 1 - momentum"):
        EMATeacherHook(momentum=0.001)
    with pytest.raises(TypeError, match='max_decay'):
        EMATeacherHook(max_momentum=0.99)


def _bn_net():
    return nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))


@pytest.mark.parametrize('update_buffers', [True, False])
def test_ema_update_arithmetic(update_buffers):
    torch.manual_seed(0)
    teacher, student = _bn_net(), _bn_net()
    student(torch.randn(4, 2, 5, 5))  # moves student BN statistics
    t0 = copy.deepcopy(teacher.state_dict())
    s0 = copy.deepcopy(student.state_dict())
    EMATeacherHook(update_buffers=update_buffers).ema_update(teacher, student, 0.75)
    new = teacher.state_dict()
    for k in ('0.weight', '0.bias', '1.weight', '1.bias'):
        torch.testing.assert_close(new[k], 0.75 * t0[k] + 0.25 * s0[k])
    for k in ('1.running_mean', '1.running_var'):
        expect = 0.75 * t0[k] + 0.25 * s0[k] if update_buffers else t0[k]
        torch.testing.assert_close(new[k], expect)
    assert new['1.num_batches_tracked'] == s0['1.num_batches_tracked'] == 1


# ------------------------------------------------------------------ sampler
class _Range(torch.utils.data.Dataset):

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


def _concat(n_lab, n_unl):
    ds = ConcatDataset.__new__(ConcatDataset)
    torch.utils.data.ConcatDataset.__init__(ds, [_Range(n_lab), _Range(n_unl)])
    ds.datasets = [_Range(n_lab), _Range(n_unl)]
    return ds


def _batches(sampler, n):
    it = iter(sampler)
    return [[next(it) for _ in range(sampler.batch_size)] for _ in range(n)]


def test_sampler_fixed_counts_infinite_and_seeded():
    ds = _concat(5, 40)
    sampler = SemiSampler(ds, batch_size=6, num_labeled=2, seed=3)
    batches = _batches(sampler, 30)  # 60 labeled draws from 5 tiles: repeats
    for b in batches:
        assert all(i < 5 for i in b[:2]) and all(5 <= i < 45 for i in b[2:])
    labeled = [i for b in batches for i in b[:2]]
    assert set(labeled) == set(range(5))
    # each pass over the unlabeled set is a permutation
    unl = [i for b in batches for i in b[2:]]
    assert sorted(unl[:40]) == list(range(5, 45))
    assert _batches(SemiSampler(ds, 6, 2, seed=3), 30) == batches
    assert _batches(SemiSampler(ds, 6, 2, seed=4), 30) != batches


def test_sampler_ranks_see_disjoint_unlabeled(monkeypatch):
    import semiearth.samplers.semi_sampler as mod
    ds = _concat(4, 32)
    streams = []
    for rank in (0, 1):
        monkeypatch.setattr(mod, 'get_dist_info', lambda r=rank: (r, 2))
        streams.append(_batches(SemiSampler(ds, 8, 4, seed=0), 4))
    unl = [{i for b in s for i in b[4:]} for s in streams]
    assert len(unl[0]) == len(unl[1]) == 16
    assert not unl[0] & unl[1]  # one pass of 32 split between the ranks
    assert unl[0] | unl[1] == set(range(4, 36))


def test_sampler_resume_continues_the_stream():
    """MMEngine resumes by advancing the dataloader k batches; the stream
    after that is the uninterrupted run's."""
    ds = _concat(5, 40)
    full = _batches(SemiSampler(ds, 6, 2, seed=1), 12)
    resumed = _batches(SemiSampler(ds, 6, 2, seed=1), 12)[7:]
    assert resumed == full[7:]


def test_sampler_skip_batches_draws_the_same_stream(monkeypatch):
    """skip_batches(k) starts each rank's stream where k batches end."""
    import semiearth.samplers.semi_sampler as mod
    ds = _concat(5, 40)
    for rank in (0, 1):
        monkeypatch.setattr(mod, 'get_dist_info', lambda r=rank: (r, 2))
        full = _batches(SemiSampler(ds, 6, 2, seed=1), 30)
        moved = SemiSampler(ds, 6, 2, seed=1)
        moved.skip_batches(17)
        assert _batches(moved, 13) == full[17:]
        assert _batches(moved, 13) == full[17:]  # every later iter() starts there
    with pytest.raises(ValueError, match='num_batches=-1'):
        moved.skip_batches(-1)


class _Loaded(_Range):
    """Items ``dict(inputs=offset + i)``; counts the loads."""
    loads = 0

    def __init__(self, n, offset):
        super().__init__(n)
        self.offset = offset

    def __getitem__(self, i):
        _Loaded.loads += 1
        return dict(inputs=self.offset + i)


def _index_runner(work_dir, max_iters, resume=False, workers=0):
    """A Runner over a labeled (0-4) + unlabeled (100-139) index dataset
    whose model records every batch it trains on."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Recorder(BaseModel):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))
            self.seen = []

        def forward(self, inputs, data_samples=None, mode='loss'):
            self.seen.append(list(inputs))
            return dict(loss=(self.w - 1).pow(2).sum())

    ds = ConcatDataset.__new__(ConcatDataset)
    parts = [_Loaded(5, 0), _Loaded(40, 100)]
    torch.utils.data.ConcatDataset.__init__(ds, parts)
    ds.datasets = parts
    ds._fully_initialized = True
    return Runner(
        model=Recorder(), work_dir=str(work_dir), default_scope='mmseg',
        train_dataloader=dict(dataset=ds, batch_size=6, num_workers=workers,
                              persistent_workers=workers > 0,
                              sampler=dict(type='SemiSampler', batch_size=6, num_labeled=2),
                              collate_fn=dict(type='pseudo_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(type='SkipAheadIterBasedTrainLoop', max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False)),
        randomness=dict(seed=0), resume=resume,
        load_from=str(work_dir / f'iter_{max_iters - 3}.pth') if resume else None)


@pytest.mark.parametrize('workers', [0, 2])
def test_resume_skips_ahead_without_loading_finished_batches(tmp_path, workers):
    """SkipAheadIterBasedTrainLoop: a run resumed at iteration 4 trains on the
    uninterrupted run's batches 5-7 and loads only those (in this process
    without workers; with persistent workers, whose prefetch from the start of
    the stream must be dropped, the batches are checked)."""
    full = _index_runner(tmp_path / 'full', 7, workers=workers)
    full.train()
    _index_runner(tmp_path / 'cut', 4, workers=workers).train()
    resumed = _index_runner(tmp_path / 'cut', 7, resume=True, workers=workers)
    _Loaded.loads = 0
    resumed.train()
    assert resumed.model.seen == full.model.seen[4:]
    if not workers:
        assert _Loaded.loads == 3 * 6
    assert resumed.model.w.item() == pytest.approx(full.model.w.item())


def test_sampler_bad_specs():
    ds = _concat(5, 40)
    with pytest.raises(ValueError, match='num_labeled=6 does not fit batch_size=6'):
        SemiSampler(ds, 6, 6)
    with pytest.raises(ValueError, match='num_labeled=0'):
        SemiSampler(ds, 6, 0)
    with pytest.raises(ValueError, match='unlabeled dataset is empty'):
        SemiSampler(_concat(5, 0), 6, 2)
    with pytest.raises(TypeError, match='SemiDataset|ConcatDataset'):
        SemiSampler(_Range(10), 6, 2)


# -------------------------------------------------------- views and CutMix
def _semi_cfg(nc_data):
    cfg = Config.fromfile(FIXMATCH_CONFIG)
    for part in ('labeled', 'unlabeled'):
        cfg.train_dataloader.dataset[part].data_root = nc_data
    return cfg


def test_weak_and_strong_views_share_geometry(nc_data):
    cfg = _semi_cfg(nc_data)
    unl = cfg.train_dataloader.dataset.unlabeled
    strong = unl.pipeline[-1]['unsup_strong']
    ds = DATASETS.build(unl)
    np.random.seed(0)
    for idx in range(4):
        out = ds[idx]
        w, s = out['data_samples']['unsup_weak'], out['data_samples']['unsup_strong']
        assert out['inputs']['sup'] is None and out['data_samples']['sup'] is None
        assert torch.equal(w.valid_mask.data, s.valid_mask.data)
        assert torch.equal(w.gt_sem_seg.data, s.gt_sem_seg.data)
        assert w.metainfo['flip'] == s.metainfo['flip']
        assert w.metainfo['img_shape'] == s.metainfo['img_shape']
    # without photometric changes the two views are the same pixels
    for t in strong[:-1]:
        t['prob'] = 0.0
    ds = DATASETS.build(unl)
    for idx in range(4):
        out = ds[idx]
        assert torch.equal(out['inputs']['unsup_weak'], out['inputs']['unsup_strong'])
        # the mask follows the image through resize/crop/flip: nodata pixels
        # (all bands 0) are the invalid ones, up to bilinear blending at edges
        img = out['inputs']['unsup_weak']
        valid = out['data_samples']['unsup_weak'].valid_mask.data[0].bool()
        disagree = valid != (img != 0).any(0)
        v = valid.float()[None, None]
        near_edge = (torch.nn.functional.max_pool2d(v, 9, 1, 4)
                     != -torch.nn.functional.max_pool2d(-v, 9, 1, 4))[0, 0]
        assert not (disagree & ~near_edge).any()


def test_cutmix_mixes_all_targets_with_one_box():
    g = torch.Generator().manual_seed(0)
    boxes = random_cutmix_boxes(64, 20, 30, prob=0.5, generator=g)
    has_box = boxes.flatten(1).any(1)
    assert 0.3 < has_box.float().mean() < 0.7
    area = boxes.flatten(1).float().mean(1)[has_box]
    assert area.min() >= 0.015 and area.max() <= 0.45
    for b in boxes[has_box]:  # one axis-aligned rectangle
        ys, xs = torch.where(b)
        assert b[ys.min():ys.max() + 1, xs.min():xs.max() + 1].all()
    img = torch.arange(4 * 3 * 20 * 30, dtype=torch.float).view(4, 3, 20, 30)
    label = torch.arange(4 * 20 * 30).view(4, 20, 30)
    partner = torch.roll(torch.arange(4), 1)
    m_img, m_label = cutmix(boxes[:4], partner, (img, label))
    for i in range(4):
        inside = boxes[i]
        assert torch.equal(m_img[i][:, inside], img[partner[i]][:, inside])
        assert torch.equal(m_img[i][:, ~inside], img[i][:, ~inside])
        assert torch.equal(m_label[i][inside], label[partner[i]][inside])
        assert torch.equal(m_label[i][~inside], label[i][~inside])


def _adaptive_threshold_rank(rank, world, port, probs, valid, out):
    """One DDP rank: two updates with this rank's pixels."""
    import os
    from semiearth.models.utils import SelfAdaptiveThreshold
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.distributed.init_process_group('gloo', rank=rank, world_size=world)
    sat = SelfAdaptiveThreshold(3, decay=0.5)
    for step in range(2):
        sat.update(probs[step][rank], valid[step][rank])
    torch.save(sat.state_dict(), f'{out}/{rank}.pt')
    torch.distributed.destroy_process_group()


def test_self_adaptive_thresholds_are_pooled_across_ranks(tmp_path):
    """Under DDP every rank ends with the thresholds of one process that saw
    all ranks' pixels; a rank without valid pixels takes part (no hang)."""
    from semiearth.models.utils import SelfAdaptiveThreshold
    g = torch.Generator().manual_seed(0)
    probs = [torch.rand(2, 1, 3, 4, 4, generator=g).softmax(2) for _ in range(2)]
    valid = [torch.rand(2, 1, 4, 4, generator=g) > 0.3 for _ in range(2)]
    valid[1][1][:] = False  # second step: rank 1 has no valid pixel
    torch.multiprocessing.spawn(_adaptive_threshold_rank, nprocs=2, join=True,
                                args=(2, 29641, probs, valid, str(tmp_path)))
    single = SelfAdaptiveThreshold(3, decay=0.5)
    for step in range(2):
        single.update(torch.cat(list(probs[step])), torch.cat(list(valid[step])))
    for rank in range(2):
        state = torch.load(tmp_path / f'{rank}.pt')
        for key, value in single.state_dict().items():
            torch.testing.assert_close(state[key], value)
    # pooling is not averaging the ranks' means (they hold different pixel counts)
    assert valid[0][0].sum() != valid[0][1].sum()


def test_self_adaptive_thresholds():
    from semiearth.models.utils import SelfAdaptiveThreshold
    sat = SelfAdaptiveThreshold(3, decay=0.5)
    torch.testing.assert_close(sat.thresholds(), torch.full((3,), 1 / 3))
    probs = torch.zeros(1, 3, 2, 2)
    probs[0, 0] = 0.9
    probs[0, 1] = 0.1  # every pixel: class 0 at 0.9, class 1 at 0.1
    valid = torch.ones(1, 2, 2, dtype=torch.bool)
    valid[0, 1, 1] = False
    sat.update(probs, valid)
    glob = 0.5 / 3 + 0.5 * 0.9
    cls = torch.tensor([0.5 / 3 + 0.45, 0.5 / 3 + 0.05, 0.5 / 3])
    torch.testing.assert_close(sat.global_conf, torch.tensor(glob))
    torch.testing.assert_close(sat.thresholds(), cls / cls.max() * glob)
    # the class the teacher is most sure of gets the global threshold, others less
    label = torch.tensor([[[0, 1], [2, 0]]])
    thr = sat(label)
    assert thr[0, 0, 0] == pytest.approx(glob) and thr[0, 0, 1] < glob
    assert set(dict(sat.named_buffers())) == {'global_conf', 'class_prob'}
