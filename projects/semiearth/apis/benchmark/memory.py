"""Peak CUDA memory of each variant, built and stepped alone (in the timing
all variants are resident, so a peak there would count the others)."""
import copy
from typing import Dict, Sequence, Tuple

import torch
from mmengine.config import Config

from .device import free_cuda, sync
from .variants import build_variant

CPU_MEM_NOTE = ('peak memory is measured on CUDA only (torch.cuda.max_memory_allocated '
                'of each variant alone); on CPU the process RSS is shared by all variants')
MIB = 2 ** 20


def measure_memory(cfg: Config, names: Sequence[str], batches, n_batches: int, steps: int,
                   device, amp: bool) -> Tuple[Dict[str, float], Dict[str, float]]:
    """Peak allocated and peak reserved CUDA memory (MiB) of each variant
    over ``steps`` untimed steps, minus what was allocated (reserved) before
    it was built: its weights, gradients, optimizer state, the VLM when
    online and the step's activations."""
    allocated, reserved = {}, {}
    for name in names:
        free_cuda()
        base = torch.cuda.memory_allocated(device)
        base_reserved = torch.cuda.memory_reserved(device)
        torch.cuda.reset_peak_memory_stats(device)
        model, optim = build_variant(cfg, name, device, amp)
        for step in range(steps):
            model.train_step(copy.deepcopy(batches[step % n_batches]), optim)
        sync(device)
        allocated[name] = round((torch.cuda.max_memory_allocated(device) - base) / MIB, 1)
        reserved[name] = round((torch.cuda.max_memory_reserved(device) - base_reserved)
                               / MIB, 1)
        del model, optim
    free_cuda()
    return allocated, reserved
