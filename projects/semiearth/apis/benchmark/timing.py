"""Timing the variants' training steps side by side on the same batches."""
import copy
import time
from typing import Dict, List, Sequence

from mmengine.config import Config

from .device import sync
from .variants import build_variant


def time_variants(cfg: Config, names: Sequence[str], batches, warmup: int, n_batches: int,
                  device, amp: bool, passes: int = 1,
                  images=None) -> List[Dict[str, List[float]]]:
    """Seconds of each variant's timed steps (all variants resident), one
    dict per pass over the same batches (a second pass is what
    ``semiearth_auto`` costs once its cache holds the images). Each step
    runs every variant on the same batch, the order rotated by one per step
    so that no variant always runs first; the first ``warmup`` steps are
    not timed."""
    names = list(names)
    variants = {name: build_variant(cfg, name, device, amp, images) for name in names}
    times = [{name: [] for name in names} for _ in range(passes)]
    for p in range(passes):
        for step in range(n_batches):
            batch = batches[step]
            k = step % len(names)
            for name in names[k:] + names[:k]:
                model, optim = variants[name]
                data = copy.deepcopy(batch)  # the model may change it; not timed
                sync(device)
                t = time.perf_counter()
                model.train_step(data, optim)
                sync(device)
                if step >= warmup:
                    times[p][name].append(time.perf_counter() - t)
    return times
