"""The random-number policy's promises (``semiearth.utils.step_rng``):
the per-iteration reseed differs between ranks and between iterations, and
the samples of one source get distinct pipeline seeds. Any of these could
break with everything else green: the same dropout masks on every GPU or at
every step, or every sample cropped and flipped alike."""
import random

import numpy as np
import torch
from mmengine.dataset import ConcatDataset
from mmengine.logging import MessageHub

import semiearth.samplers.semi_sampler as sampler_module
import semiearth.utils.step_rng as step_rng
from semiearth.engine import StepRNGHook
from semiearth.samplers import SemiSampler
from semiearth.utils import forked_rng


class _Runner:
    """What StepRNGHook reads of a runner."""

    def __init__(self, seed: int, iteration: int) -> None:
        self.seed, self.iter = seed, iteration
        self.message_hub = MessageHub.get_current_instance()


def _draws_after_reseed(monkeypatch, seed: int, rank: int, iteration: int):
    """The global generators' next draws after StepRNGHook's reseed at
    ``iteration`` on ``rank``: torch, numpy, random, and a dropout mask."""
    monkeypatch.setattr(step_rng, 'get_rank', lambda: rank)
    hook, runner = StepRNGHook(), _Runner(seed, iteration)
    hook.before_train(runner)
    hook.before_train_iter(runner, batch_idx=iteration)
    mask = torch.nn.functional.dropout(torch.ones(64), p=0.5, training=True)
    return (torch.rand(4).tolist(), np.random.rand(4).tolist(), random.random(),
            mask.tolist())


def test_reseed_is_a_function_of_seed_rank_and_iteration(monkeypatch):
    first = _draws_after_reseed(monkeypatch, seed=7, rank=0, iteration=3)
    torch.rand(100), np.random.rand(100), random.random()  # anything in between
    assert _draws_after_reseed(monkeypatch, seed=7, rank=0, iteration=3) == first


def test_reseed_differs_between_ranks(monkeypatch):
    draws = [_draws_after_reseed(monkeypatch, seed=7, rank=r, iteration=3) for r in range(4)]
    for kind in range(4):  # torch, numpy, random, dropout mask: each differs per rank
        assert len({repr(d[kind]) for d in draws}) == 4, kind


def test_reseed_differs_between_iterations(monkeypatch):
    draws = [_draws_after_reseed(monkeypatch, seed=7, rank=0, iteration=t) for t in range(6)]
    for kind in range(4):
        assert len({repr(d[kind]) for d in draws}) == 6, kind
    # and another run seed gives another sequence
    assert _draws_after_reseed(monkeypatch, seed=8, rank=0, iteration=0) != draws[0]


class _Indices(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        return i


def _keys(sampler, batches):
    it = iter(sampler)
    return [next(it) for _ in range(batches * sampler.batch_size)]


def _concat(n_labeled: int, n_unlabeled: int) -> ConcatDataset:
    """A ConcatDataset of two index datasets, without mmengine's lazy-init
    checks (what SemiSampler reads: ``datasets`` and lengths)."""
    ds = ConcatDataset.__new__(ConcatDataset)
    torch.utils.data.ConcatDataset.__init__(ds, [_Indices(n_labeled), _Indices(n_unlabeled)])
    ds.datasets = [_Indices(n_labeled), _Indices(n_unlabeled)]
    return ds


def test_samples_of_one_source_get_distinct_pipeline_seeds(monkeypatch):
    """Every draw of a source, repeats of the same image included, has its
    own seed, and the ranks' seeds differ from each other."""
    ds = _concat(3, 20)
    seeds = {}
    for r in (0, 1):
        monkeypatch.setattr(sampler_module, 'get_dist_info', lambda r=r: (r, 2))
        keys = _keys(SemiSampler(ds, batch_size=4, num_labeled=2, seed=5), batches=30)
        labeled = [k for k in keys if int(k) < 3]
        unlabeled = [k for k in keys if int(k) >= 3]
        assert len(labeled) == 60 and len(unlabeled) == 60
        # the 3 labeled images repeat 20 times each: 60 distinct seeds still
        assert len({k.seed for k in labeled}) == 60
        assert len({k.seed for k in unlabeled}) == 60
        assert not {k.seed for k in labeled} & {k.seed for k in unlabeled}
        seeds[r] = {k.seed for k in keys}
    assert not seeds[0] & seeds[1]


def test_distinct_pipeline_seeds_draw_distinct_augmentations():
    """What SemiDataset does with a sample's seed: the pipeline's draws
    (torch, numpy, random) follow the seed, differ between seeds, and leave
    the process's own generators where they were."""
    before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())

    def pipeline():
        return (torch.rand(2).tolist(), np.random.randint(0, 1000, 3).tolist(),
                random.random())
    with forked_rng(11):
        a = pipeline()
    with forked_rng(12):
        b = pipeline()
    with forked_rng(11):
        again = pipeline()
    assert a == again
    assert all(x != y for x, y in zip(a, b))
    assert torch.equal(torch.get_rng_state(), before[0])
    assert np.array_equal(np.random.get_state()[1], before[1])
    assert random.getstate() == before[2]
