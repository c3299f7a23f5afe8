"""The one random-number policy of training: every random draw is a
function of (seed, rank, iteration) or (seed, rank, sample position).

- **Training step** (:func:`step_seed`, :func:`step_generator`): the draws the
  segmentor makes itself (CutMix boxes) use a generator seeded by ``(base
  seed, rank, iteration, purpose)``; :class:`StepRNGHook` reseeds torch,
  numpy and ``random`` the same way before every iteration, so dropout and
  anything else drawn from the global generators follow the iteration too.
  The rank is part of the seed, so every GPU draws its own boxes (UniMatch-V2
  draws a box per sample in each rank's data pipeline).
- **Data pipeline** (:func:`sample_seed`, :func:`forked_rng`):
  :class:`SemiSampler` tags each index with a seed made of ``(sampler seed,
  rank, source, position in the rank's stream)`` and :class:`SemiDataset`
  runs that sample's pipeline under it, without touching the process's own
  generators: augmentations do not depend on which worker loads a sample or
  on what was loaded before.

So a run resumed at iteration ``t`` (the sampler moved to batch ``t``, see
:class:`SkipAheadIterBasedTrainLoop`) draws exactly what the uninterrupted
run drew, with any number of workers, and no generator state has to be saved
in the checkpoint.

The base seed is the runner's seed, which :class:`StepRNGHook` records in
the runner's message hub beside the iteration (so it belongs to that run and
no module state outlives it), else ``torch.initial_seed()`` (mmengine seeds
torch with the run's seed). Outside a runner there is no iteration: the seed
is then drawn from the global torch generator, so ``torch.manual_seed`` makes
the draws repeatable there.
"""
import contextlib
import hashlib
import random
from typing import Iterator, Optional

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.logging import MessageHub

BASE_SEED_KEY = 'step_rng_base_seed'


def set_base_seed(seed: Optional[int], message_hub: Optional[MessageHub] = None) -> None:
    """Record the run's seed in its message hub (called by
    :class:`StepRNGHook`); ``None`` falls back to ``torch.initial_seed()``."""
    hub = message_hub or MessageHub.get_current_instance()
    hub.update_info(BASE_SEED_KEY, seed)


def mix_seed(*parts) -> int:
    """A 63-bit seed that depends on every part (a stable hash, the same in
    every process)."""
    key = ':'.join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], 'little') >> 1


def step_seed(purpose: str) -> int:
    """The seed of ``purpose`` at this rank and training iteration."""
    hub = MessageHub.get_current_instance()
    iteration = hub.get_info('iter')
    if iteration is None:
        return mix_seed('outside-runner', int(torch.randint(0, 2**62, ())), get_rank(), purpose)
    base = hub.get_info(BASE_SEED_KEY)
    base = torch.initial_seed() if base is None else base
    return mix_seed(base, 'iter', int(iteration), 'rank', get_rank(), purpose)


def step_generator(purpose: str) -> torch.Generator:
    """A CPU generator seeded by :func:`step_seed`."""
    return torch.Generator().manual_seed(step_seed(purpose))


def seed_global(seed: int, cuda: bool = True) -> None:
    """Seed torch (CPU, and every CUDA device with ``cuda``), numpy and
    ``random``."""
    if cuda:
        torch.manual_seed(seed)
    else:
        torch.random.default_generator.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def sample_seed(base: int, rank: int, source: str, position: int) -> int:
    """The seed of one sample's pipeline: ``position`` in this rank's stream
    of ``source`` ('labeled' / 'unlabeled')."""
    return mix_seed(base, 'rank', rank, source, position)


@contextlib.contextmanager
def forked_rng(seed: int) -> Iterator[None]:
    """Run the body with torch, numpy and ``random`` seeded by ``seed``, and
    give the process back its own generator states afterwards."""
    states = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    seed_global(seed, cuda=False)  # data pipelines run on the CPU
    try:
        yield
    finally:
        torch.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])

