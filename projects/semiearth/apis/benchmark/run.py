"""The step benchmark from a config to its summary: variants, batches,
evidence, timing, memory (``tools/analysis_tools/benchmark_step.py`` is its
command line and documents the method)."""
import time
from dataclasses import dataclass, fields
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config

from ..evidence_precompute import precompute_evidence
from ..vlm_tools import load_semi_config
from .batches import FakeBatches, FakeImages, real_batches, unlabeled_layout
from .config import (BenchmarkError, config_variants, crop_size, data_preprocessors,
                     num_bands, num_classes, num_labeled, strip_pretrained)
from .device import device_name, free_cuda
from .evidence import auto_cache_dir, precompute_fake_evidence, prepare_auto_cache
from .memory import CPU_MEM_NOTE, measure_memory
from .methods import branches_of, parse_variant
from .summary import Measurements, method_entries, semiearth_entries, summarise
from .timing import time_variants


@dataclass
class BenchmarkSettings:
    """The benchmark's options (the command line's): timed and untimed
    steps, the variants wanted, fake data and its crop, mixed precision,
    the memory steps, and the weights (pretrained, VLM)."""
    config: str
    iters: int = 10
    warmup: int = 2
    variants: Optional[Sequence[str]] = None
    fake_data: bool = False
    crop: Optional[Sequence[int]] = None
    amp: bool = False
    mem_steps: int = 2
    no_pretrained: bool = False
    vlm_checkpoint: Optional[str] = None
    random_vlm: bool = False
    device: str = 'cpu'
    all_methods: bool = False

    @classmethod
    def from_args(cls, args) -> 'BenchmarkSettings':
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


def _real_batches(cfg: Config, n_batches: int, branches, config: str) -> list:
    """The config's first batches, which must hold every branch the timed
    methods read."""
    batches = real_batches(cfg, n_batches)
    inputs = batches[0]['inputs'] if batches else {}
    missing = [b for b in branches if isinstance(inputs, dict) and b not in inputs]
    if missing:
        raise BenchmarkError(
            f"{config}: its training batches have no {missing} branch, which a timed "
            'method reads (UniMatch / UniMatch V2: a second strong view). Fix: add '
            '--fake-data, or time them on a *_semi-2strong dataset config.')
    return batches


def make_batches(cfg: Config, kind: str, s: BenchmarkSettings, n_batches: int,
                 names: Sequence[str] = ()):
    """The batches of the steps and the crop: fake ones of the crop size
    (``s.crop`` also becomes the data preprocessor's pad size) with every
    branch the variants ``names`` read, else the config's first
    ``n_batches``."""
    crop = crop_size(cfg, kind, s.crop, s.config)
    branches = branches_of(names) if kind == 'semi' else ()
    if not s.fake_data:
        return _real_batches(cfg, n_batches, branches, s.config), crop
    if crop is None:
        raise BenchmarkError(
            f'{s.config}: --fake-data needs a crop size and the config has no '
            '`crop_size` variable and no data_preprocessor `size`. Fix: add '
            '--crop H W.')
    if s.crop:  # the preprocessor pads to the crop
        for dp in data_preprocessors(cfg, kind):
            if dp.get('size'):
                dp['size'] = tuple(crop)
    batches = FakeBatches(kind, int(cfg.train_dataloader.batch_size), num_labeled(cfg, kind),
                          crop, num_bands(cfg, kind), num_classes(cfg, kind, s.config),
                          unlabeled_layout(cfg), **({'branches': branches} if branches else {}))
    return batches, crop


def prepare_evidence(cfg: Config, names: List[str], batches, n_batches: int, device,
                     s: BenchmarkSettings) -> Tuple[object, Optional[float]]:
    """The caches of the SemiEarth variants (untimed); returns the image
    source of ``semiearth_auto`` and the precompute seconds of
    ``semiearth_cached`` (None when not run)."""
    images = precompute_s = None
    if 'semiearth_auto' in names:
        if s.fake_data:
            precompute_fake_evidence(cfg, batches, n_batches, device, auto_cache_dir(cfg),
                                     maps=False)
            images = FakeImages(cfg, batches)
        else:
            images = prepare_auto_cache(cfg, device)
    if any(parse_variant(n)[1] == 'cached' for n in names):
        t0 = time.perf_counter()
        if s.fake_data:
            precompute_fake_evidence(cfg, batches, n_batches, device,
                                     cfg.model.purifier.cache_dir)
        else:
            precompute_evidence(cfg, device)
        precompute_s = time.perf_counter() - t0
        if device.type == 'cuda':
            free_cuda()
    return images, precompute_s


def measure(cfg: Config, names: List[str], batches, n_batches: int, device,
            s: BenchmarkSettings, images, precompute_s) -> Measurements:
    """Time the variants (two passes with ``semiearth_auto``), then their
    peak CUDA memory alone."""
    passes = 2 if 'semiearth_auto' in names else 1
    m = Measurements(names, time_variants(cfg, names, batches, s.warmup, n_batches, device,
                                          s.amp, passes, images),
                     CPU_MEM_NOTE, precompute_s)
    if device.type == 'cuda' and s.mem_steps:
        free_cuda()
        m.peak_mem, m.peak_reserved = measure_memory(cfg, names, batches, n_batches,
                                                     s.mem_steps, device, s.amp)
        m.mem_note = (f'each variant built alone, peak over {s.mem_steps} untimed '
                      'steps, minus what was allocated before it was built')
    elif device.type == 'cuda':
        m.mem_note = 'not measured (--mem-steps 0)'
    return m


def _batch_split(cfg: Config, kind: str) -> Tuple[int, int]:
    """(labeled, unlabeled) images per step."""
    n = num_labeled(cfg, kind)
    return n, int(cfg.train_dataloader.batch_size) - n


def run_benchmark(s: BenchmarkSettings, options: dict, kind: str) -> dict:
    """Benchmark ``s.config`` with ``options`` (config overrides; a
    SemiEarth config's ``model.purifier.cache_dir`` is where the caches
    go); ``kind`` is :func:`model_kind`'s. Prints a line per variant;
    returns the summary."""
    cfg = load_semi_config(s.config, options, s.vlm_checkpoint)
    names = config_variants(cfg, kind, s.variants, s.config, s.all_methods)
    if s.no_pretrained:
        strip_pretrained(cfg.model)
    device = torch.device(s.device)
    n_batches = s.warmup + s.iters
    batches, crop = make_batches(cfg, kind, s, n_batches, names)
    images, precompute_s = prepare_evidence(cfg, names, batches, n_batches, device, s)
    m = measure(cfg, names, batches, n_batches, device, s, images, precompute_s)
    head = dict(config=s.config, device=str(device), device_name=device_name(device),
                amp=s.amp, fake_data=s.fake_data,
                batch_size=int(cfg.train_dataloader.batch_size),
                crop=list(crop) if crop else None, steps=s.iters, warmup=s.warmup)
    summary = summarise(m, head)
    if kind == 'semi':
        summary.update(method_entries(summary['seconds_per_step'], _batch_split(cfg, kind)))
    if kind == 'semi' and cfg.model.get('purifier'):
        med = summary['seconds_per_step']
        summary.update(semiearth_entries(m, med, cfg.model.purifier.vlm.get('model_name'),
                                         s.random_vlm, auto_cache_dir(cfg)))
    return summary
