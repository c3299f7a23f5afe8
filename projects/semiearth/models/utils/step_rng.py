"""The one random-number policy of the training step.

Every random draw that the segmentor makes itself (today: the CutMix boxes)
comes from :func:`step_generator`, never from the global RNG:

- **per rank**: the rank is part of the seed, so under DDP every GPU draws
  its own boxes (with the global RNG and mmengine's shared seed, every rank
  would draw the same ones; UniMatch-V2 draws a box per sample in each
  rank's data pipeline);
- **per iteration**: inside a runner, the seed is a pure function of
  ``(torch.initial_seed(), rank, iteration, purpose)``, with the iteration
  read from the runner's message hub. A run resumed at iteration ``t``
  draws what the uninterrupted run drew at ``t``: no generator state needs
  to be saved in the checkpoint.
- **outside a runner** (a model called by hand, unit tests) there is no
  iteration: the seed is drawn from the global torch RNG, so
  ``torch.manual_seed`` makes the draws repeatable there.
"""
import hashlib

import torch
from mmengine.dist import get_rank
from mmengine.logging import MessageHub


def step_seed(purpose: str) -> int:
    """A 63-bit seed for ``purpose`` at this rank and iteration."""
    iteration = MessageHub.get_current_instance().get_info('iter')
    if iteration is None:
        base = f'global:{int(torch.randint(0, 2**62, ()))}'
    else:
        base = f'seed:{torch.initial_seed()}:iter:{int(iteration)}'
    key = f'{base}:rank:{get_rank()}:{purpose}'.encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], 'little') >> 1


def step_generator(purpose: str) -> torch.Generator:
    """A CPU generator seeded by :func:`step_seed`."""
    return torch.Generator().manual_seed(step_seed(purpose))
