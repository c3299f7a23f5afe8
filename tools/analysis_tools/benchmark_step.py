"""Time training steps of a segmentation config's variants side by side on
the same batches, with their peak GPU memory.

    python tools/analysis_tools/benchmark_step.py CONFIG [--fake-data]
        [--batch-size N] [--crop H W] [--amp] [--variants NAME ...]
        [--iters 10] [--warmup 2] [--mem-steps 2] [--no-pretrained]
        [--vlm-checkpoint PATH | --random-vlm] [--device cuda:0]
        [--cfg-options KEY=VALUE ...]

Variants follow from CONFIG:

- a supervised mmseg config (``EncoderDecoder``): ``supervised``;
- a FixMatch config (``SemiEarthSegmentor``, ``purifier=None``): ``fixmatch``;
- a SemiEarth config (``SemiEarthSegmentor`` with a VLM purifier):
  ``fixmatch`` (the same config without the purifier), ``semiearth_online``
  (the VLM runs every step), ``semiearth_cached`` (evidence read from a
  cache computed first, untimed, into a temporary directory) and
  ``semiearth_auto`` (the write-through cache, starting empty but for the
  calibration: it computes each unlabeled image's map when a step first
  meets it). With ``semiearth_auto`` every variant steps twice over the same
  batches: the first pass is what the first epoch costs, the second (whose
  times are reported) the steady state.

``--variants`` keeps some of them (the first one given is the baseline of
the ratios). Every variant is built with the same seed, and all are stepped
in turn on each batch, the order rotated every step, so machine noise hits
them alike. A step is ``model.train_step``: data preprocessing, (teacher and
VLM forward, purifier,) forward, backward and optimizer step; the EMA
teacher update (a hook) is not part of it.

Batches: the config's ``train_dataloader`` (``num_workers=0``), or with
``--fake-data`` random images of the config's crop size (the ``crop_size``
variable, else the data preprocessor's ``size``, else ``--crop H W``;
``--crop`` given always wins and becomes the preprocessor's pad size), as
many bands as the data preprocessor has means, labels uniform in
``[0, num_classes)`` of the decode head, and for semi-supervised configs the
layout the ``MultiBranch`` pipelines and ``SemiSampler`` produce (see
:func:`fake_batch`). With a SemiEarth config, the fake unlabeled images get
file names and the VLM evidence cache is computed for them as for a dataset.
``--batch-size N`` replaces the per-GPU batch (``num_labeled = N // 2`` for
semi-supervised configs).

Peak memory (CUDA only): variants are interleaved and all resident during
the timing, so ``torch.cuda.max_memory_allocated`` around a step would count
the other variants' weights and optimizer states. After the timing every
variant is therefore built again *alone*, and ``--mem-steps`` untimed steps
are run on the first batches after ``torch.cuda.reset_peak_memory_stats``;
``peak_mem_mb`` is the peak allocated minus what was allocated before the
variant was built: its weights, gradients, optimizer state, the VLM when
online, and the step's activations (what training it alone needs, less the
CUDA context). ``peak_mem_reserved_mb`` is the allocator's peak reservation
(what ``nvidia-smi`` would show, less the context). On CPU no per-variant
measure is honest (the process's peak RSS is shared by all variants and the
dataloader), so ``peak_mem_mb`` is null and ``mem_note`` says so.

``--amp`` trains with mmengine's ``AmpOptimWrapper`` (float16 autocast,
dynamic loss scale); CUDA only. ``--random-vlm`` times a VLM of the same
architecture with random weights (for machines without weights: the cost
does not depend on the values); ``--no-pretrained`` likewise skips the
config's pretrained backbone weights.

Ends with one JSON line: config, device, device_name, batch_size, crop,
steps, seconds_per_step (median), seconds_min_max, peak_mem_mb,
``<variant>_vs_<baseline>`` ratios of the medians and, for SemiEarth
configs, ``online_vs_fixmatch``, ``cached_vs_fixmatch`` and the target
``target_cached_le``, ``auto_first_pass_vs_fixmatch``, ``auto_vs_fixmatch``
(second pass) and its target ``target_auto_le``.
"""
import argparse
import copy
import gc
import json
import os
import os.path as osp
import platform
import shutil
import statistics
import sys
import tempfile
import time
import types

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', 'projects'))
sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))
import semiearth  # noqa: E402,F401
import numpy as np  # noqa: E402
import torch  # noqa: E402
from semiearth.apis.cli import CfgOptionsAction  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.models.segmentors import BaseSegmentor  # noqa: E402
from mmseg.registry import MODELS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402

import precompute_vlm  # noqa: E402
from semiearth.apis.vlm_tools import (build_purifier_vlm, load_semi_config,  # noqa: E402
                                      normalize_image, purifier_cfg)
from semiearth.engine import VLMEvidenceHook  # noqa: E402
from semiearth.models.segmentors import SemiEarthSegmentor  # noqa: E402
from semiearth.vlm import DenseCLIP  # noqa: E402
from semiearth.vlm.calibration import confusion_counts, normalize_confusion  # noqa: E402
from semiearth.vlm.evidence_cache import (cache_key, prepare_cache,  # noqa: E402
                                          write_calibration, write_map)

SEMI_VARIANTS = ('fixmatch', 'semiearth_online', 'semiearth_cached', 'semiearth_auto')
ALL_VARIANTS = ('supervised',) + SEMI_VARIANTS
TARGET_CACHED_LE = 1.10
TARGET_AUTO_LE = 1.05  # steady state (second pass) of the write-through cache
BRANCHES = ('sup', 'unsup_weak', 'unsup_strong')
CPU_MEM_NOTE = ('peak memory is measured on CUDA only (torch.cuda.max_memory_allocated '
                'of each variant alone); on CPU the process RSS is shared by all variants')


class BenchmarkError(ValueError):
    """A config or option this tool cannot benchmark (message says the fix)."""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config', help='a supervised, FixMatch or SemiEarth config')
    p.add_argument('--iters', type=int, default=10, help='timed steps per variant')
    p.add_argument('--warmup', type=int, default=2, help='untimed steps per variant first')
    p.add_argument('--variants', nargs='+', choices=ALL_VARIANTS,
                   help='time only these (those the config has; the first is the baseline)')
    p.add_argument('--fake-data', action='store_true',
                   help='random batches of the config\'s crop size (no dataset needed)')
    p.add_argument('--batch-size', type=int,
                   help='per-GPU batch size (semi-supervised: half of it labeled)')
    p.add_argument('--crop', type=int, nargs=2, metavar=('H', 'W'),
                   help='crop size of --fake-data batches (default: the config\'s)')
    p.add_argument('--amp', action='store_true',
                   help='mixed precision (AmpOptimWrapper, float16); CUDA only')
    p.add_argument('--mem-steps', type=int, default=2,
                   help='untimed steps of each variant alone for its peak CUDA memory '
                        '(0: skip)')
    p.add_argument('--no-pretrained', action='store_true',
                   help='skip the config\'s pretrained weights (timing does not depend '
                        'on them)')
    p.add_argument('--vlm-checkpoint', help='local VLM weights')
    p.add_argument('--random-vlm', action='store_true',
                   help='VLM with random weights (timing only)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    args = p.parse_args(argv)
    if args.iters < 1 or args.warmup < 0 or args.mem_steps < 0:
        p.error('--iters must be >= 1, --warmup and --mem-steps >= 0')
    if args.batch_size is not None and args.batch_size < 1:
        p.error('--batch-size must be >= 1')
    if args.crop and not args.fake_data:
        p.error('--crop sets the size of --fake-data batches; real batches have the '
                'config\'s crop (change it in the config)')
    if args.crop and min(args.crop) < 1:
        p.error('--crop H W must be positive')
    if str(args.device).startswith('cuda') and not torch.cuda.is_available():
        p.error(f'--device {args.device}: CUDA is not available on this machine '
                '(use --device cpu)')
    if args.amp and not str(args.device).startswith('cuda'):
        p.error(f'--amp needs a CUDA device (AmpOptimWrapper); the device is '
                f'{args.device}: drop --amp or run on a GPU')
    return args


# ---------------------------------------------------------------- config
def model_kind(cfg, config: str) -> str:
    """``'semi'`` for a SemiEarthSegmentor config, ``'supervised'`` for any
    other mmseg segmentor, else a :class:`BenchmarkError`."""
    model = cfg.get('model')
    seg_type = model.get('type') if isinstance(model, dict) else None
    cls = MODELS.get(seg_type) if isinstance(seg_type, str) else None
    if not (isinstance(cls, type) and issubclass(cls, BaseSegmentor)):
        raise BenchmarkError(
            f'{config}: model.type is {seg_type!r}, not an mmseg segmentor; '
            'benchmark_step times segmentation training steps. Fix: pass a config '
            'whose model is an EncoderDecoder (configs/supervised/) or a '
            'SemiEarthSegmentor (configs/fixmatch/, configs/semiearth/).')
    return 'semi' if issubclass(cls, SemiEarthSegmentor) else 'supervised'


def config_variants(cfg, kind: str, wanted, config: str):
    if kind == 'supervised':
        available = ['supervised']
    elif cfg.model.get('purifier'):
        purifier_cfg(cfg)  # a purifier must have a VLM
        available = list(SEMI_VARIANTS)
    else:
        available = ['fixmatch']
    if not wanted:
        return available
    missing = [v for v in wanted if v not in available]
    if missing:
        raise BenchmarkError(f'{config}: this config has variants {available}, not '
                             f'{missing}. Fix: pick --variants among {available}.')
    return list(dict.fromkeys(wanted))


def batch_options(cfg, kind: str, batch_size: int, config: str) -> dict:
    opts = {'train_dataloader.batch_size': batch_size}
    if kind == 'semi':
        if batch_size < 2:
            raise BenchmarkError(f'{config}: a semi-supervised batch needs >= 2 samples '
                                 '(labeled and unlabeled). Fix: --batch-size 2 or more.')
        sampler = cfg.train_dataloader.get('sampler') or {}
        if 'batch_size' in sampler:
            opts['train_dataloader.sampler.batch_size'] = batch_size
        if 'num_labeled' in sampler:
            opts['train_dataloader.sampler.num_labeled'] = batch_size // 2
    return opts


def seg_cfg(cfg, kind: str):
    return cfg.model.segmentor if kind == 'semi' else cfg.model


def data_preprocessors(cfg, kind: str):
    dps = [cfg.model.get('data_preprocessor')]
    if kind == 'semi':
        dps.append(cfg.model.segmentor.get('data_preprocessor'))
    return [dp for dp in dps if dp]


def num_classes(cfg, kind: str, config: str) -> int:
    head = seg_cfg(cfg, kind).get('decode_head')
    head = head[-1] if isinstance(head, (list, tuple)) else head
    if not head or 'num_classes' not in head:
        raise BenchmarkError(f'{config}: the model has no decode_head.num_classes '
                             '(fake labels need it). Fix: use an mmseg segmentor config.')
    return int(head['num_classes'])


def num_bands(cfg, kind: str) -> int:
    """Bands of the images: the data preprocessor's means (3 without any)."""
    for dp in data_preprocessors(cfg, kind):
        if dp.get('mean') is not None:
            return len(dp['mean'])
    return 3


def crop_size(cfg, kind: str, crop_arg, config: str):
    if crop_arg:
        return tuple(crop_arg)
    crop = cfg.get('crop_size')
    if crop is None:
        crop = next((dp['size'] for dp in data_preprocessors(cfg, kind)
                     if dp.get('size')), None)
    if crop is None:
        return None
    crop = (crop, crop) if isinstance(crop, int) else tuple(crop)
    return tuple(int(s) for s in crop)


def strip_pretrained(node) -> None:
    """Drop ``Pretrained`` init_cfgs and ``pretrained`` paths in a model config."""
    if isinstance(node, dict):
        for key in list(node):
            value = node[key]
            if key == 'pretrained' and isinstance(value, str):
                node[key] = None
            elif key == 'init_cfg' and _is_pretrained(value):
                node[key] = None
            else:
                strip_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            strip_pretrained(value)


def _is_pretrained(init_cfg) -> bool:
    items = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(isinstance(i, dict) and i.get('type') == 'Pretrained' for i in items)


# ---------------------------------------------------------------- batches
def unlabeled_layout(cfg) -> dict:
    """What the unlabeled pipeline packs beside the image: the per-pixel
    fields (``gt_sem_seg`` from LoadAnnotations, ``valid_mask`` from
    AddValidMask, ``src_coords`` from AddSourceCoords) and whether the strong
    view is float32 (it is after the photometric transforms; a real one stays
    uint8 in the rare case that none of them fired, which the data
    preprocessor's cast makes irrelevant). A config without a readable
    unlabeled pipeline gets everything."""
    dataset = cfg.train_dataloader.get('dataset') or {}
    pipeline = (dataset.get('unlabeled') or {}).get('pipeline') if \
        isinstance(dataset, dict) else None
    if not pipeline:
        return dict(gt=True, valid_mask=True, src_coords=True, strong_float=True)
    types = [t.get('type') for t in pipeline]
    branch = next((t for t in pipeline if t.get('type') == 'MultiBranch'), {})
    strong = branch.get('unsup_strong') or []
    strong = strong if isinstance(strong, (list, tuple)) else [strong]
    return dict(gt='LoadAnnotations' in types, valid_mask='AddValidMask' in types,
                src_coords='AddSourceCoords' in types,
                strong_float=any(t.get('type') != 'PackSemiSegInputs' for t in strong))


class FakeBatches:
    """``batches[step]``: the random batch of a step, made on demand (the
    same for every variant; seeded by the step)."""

    def __init__(self, kind, batch_size, num_labeled, crop, bands, classes, layout):
        self.kind, self.batch_size, self.num_labeled = kind, batch_size, num_labeled
        self.crop, self.bands, self.classes, self.layout = crop, bands, classes, layout

    def __getitem__(self, step: int) -> dict:
        return fake_batch(self.kind, self.batch_size, self.num_labeled, self.crop,
                          self.bands, self.classes, self.layout, seed=step)


def _sample(name, h, w, gen, classes, gt=True, valid_mask=False, src_coords=False):
    sample = SegDataSample(metainfo=dict(
        reduce_zero_label=False, flip=False, scale_factor=(1.0, 1.0),
        seg_map_path=f'fake/ann/{name}.png', img_path=f'fake/img/{name}.png',
        ori_shape=(h, w), flip_direction=None, img_shape=(h, w)))
    if gt:
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, classes, (1, h, w), generator=gen, dtype=torch.int64))
    if valid_mask:
        sample.set_field(PixelData(data=torch.ones(1, h, w, dtype=torch.uint8)),
                         'valid_mask')
    if src_coords:
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                                torch.arange(w, dtype=torch.float32), indexing='ij')
        sample.set_field(PixelData(data=torch.stack([xs, ys])), 'src_coords')
    return sample


def fake_batch(kind, batch_size, num_labeled, crop, bands, classes, layout=None,
               seed=0) -> dict:
    """A random batch shaped as the config's dataloader collates one.

    Supervised: ``{'inputs': [uint8 (C, H, W)] * B, 'data_samples':
    [SegDataSample with gt_sem_seg int64 (1, H, W)] * B}``. Semi-supervised:
    ``{'inputs': {branch: [tensor|None] * B}, 'data_samples': {branch:
    [sample|None] * B}}`` for ``sup``, ``unsup_weak``, ``unsup_strong``; the
    first ``num_labeled`` items are labeled (only ``sup``), the rest
    unlabeled (weak uint8 and strong view of the same image, with the
    fields of ``layout``: identity ``src_coords`` (2, H, W) float32, an
    all-ones ``valid_mask`` (1, H, W) uint8). Every image is a whole crop
    whose file name (``img_path``) is unique to ``seed`` and its index.
    """
    layout = layout or dict(gt=True, valid_mask=True, src_coords=True, strong_float=True)
    gen = torch.Generator().manual_seed(seed)
    h, w = crop

    def image():
        return torch.randint(0, 256, (bands, h, w), generator=gen, dtype=torch.uint8)

    if kind == 'supervised':
        return dict(inputs=[image() for _ in range(batch_size)],
                    data_samples=[_sample(f'fake_s{seed:04d}_i{i:03d}', h, w, gen, classes)
                                  for i in range(batch_size)])
    inputs = {b: [None] * batch_size for b in BRANCHES}
    samples = {b: [None] * batch_size for b in BRANCHES}
    for i in range(batch_size):
        name = f'fake_s{seed:04d}_i{i:03d}'
        img = image()
        if i < num_labeled:
            inputs['sup'][i] = img
            samples['sup'][i] = _sample(name, h, w, gen, classes)
            continue
        sample = _sample(name, h, w, gen, classes, gt=layout['gt'],
                         valid_mask=layout['valid_mask'], src_coords=layout['src_coords'])
        inputs['unsup_weak'][i] = img
        inputs['unsup_strong'][i] = img.float() if layout['strong_float'] else img.clone()
        samples['unsup_weak'][i] = sample
        samples['unsup_strong'][i] = copy.deepcopy(sample)
    return dict(inputs=inputs, data_samples=samples)


def real_batches(cfg, n: int) -> list:
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.update(num_workers=0, persistent_workers=False)
    it = iter(Runner.build_dataloader(loader_cfg, seed=0))
    return [next(it) for _ in range(n)]


def precompute_fake_evidence(cfg, batches, steps: int, device, cache_dir: str,
                             maps: bool = True) -> None:
    """Into ``cache_dir``: the VLM evidence of every unlabeled fake image
    (``maps``), and the calibration on the labeled fake crops, as
    tools/precompute_vlm.py writes them for a dataset."""
    purifier = purifier_cfg(cfg)
    factor = int(purifier.get('downsample', 1))
    vlm = build_purifier_vlm(cfg).to(device)
    fingerprint = DenseCLIP.settings_fingerprint(**purifier['vlm'])
    prepare_cache(cache_dir, fingerprint, vlm.class_keys, factor)
    for step in range(steps if maps else 0):
        batch = batches[step]
        imgs = [x for x in batch['inputs']['unsup_weak'] if x is not None]
        metas = [s.metainfo for s in batch['data_samples']['unsup_weak'] if s is not None]
        x = torch.cat([normalize_image(img.permute(1, 2, 0).numpy(), cfg) for img in imgs])
        with torch.no_grad():
            probs = vlm(x.to(device)).float().cpu()
        for meta, p in zip(metas, probs):
            write_map(cache_dir, meta['img_path'], p, factor)
    # the calibration, measured on the fake labeled crops as precompute_vlm.py
    # measures it on the labeled images
    counts = torch.zeros(vlm.num_classes, vlm.num_classes, dtype=torch.float64)
    labeled = []
    for step in range(steps):
        batch = batches[step]
        pairs = [(x, s) for x, s in zip(batch['inputs']['sup'], batch['data_samples']['sup'])
                 if x is not None]
        x = torch.cat([normalize_image(img.permute(1, 2, 0).numpy(), cfg) for img, _ in pairs])
        with torch.no_grad():
            said = vlm(x.to(device)).float().cpu().max(dim=1).indices
        for (_, sample), s in zip(pairs, said):
            counts += confusion_counts(s, sample.gt_sem_seg.data[0], vlm.num_classes)
            labeled.append(cache_key(sample.metainfo['img_path']))
    write_calibration(cache_dir, fingerprint, vlm.class_keys, labeled,
                      normalize_confusion(counts), counts.sum(dim=1).tolist())
    del vlm


class FakeImages:
    """The whole unlabeled fake images by path, normalised (the image source
    of ``evidence='auto'`` on fake data)."""

    def __init__(self, cfg, batches) -> None:
        self.cfg, self.batches = cfg, batches

    def __call__(self, img_path: str) -> torch.Tensor:
        # names are fake_s<step>_i<index> (fake_batch)
        step, index = cache_key(img_path)[len('fake_s'):].split('_i')
        img = self.batches[int(step)]['inputs']['unsup_weak'][int(index)]
        return normalize_image(img.permute(1, 2, 0).numpy(), self.cfg)


# ---------------------------------------------------------------- models
def build_variant(cfg, name: str, device, amp: bool, images=None):
    """A variant's model and optimizer; ``semiearth_auto`` gets its own
    empty cache (``<cache_dir>/auto``, calibration only) and ``images``."""
    model_cfg = copy.deepcopy(cfg.model)
    if name == 'fixmatch':
        model_cfg.purifier = None
    elif name.startswith('semiearth_'):
        model_cfg.purifier.evidence = name[len('semiearth_'):]
    if name == 'semiearth_auto':
        model_cfg.purifier.cache_dir = auto_cache_dir(cfg)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg).to(device)
    model.init_weights()
    model.train()
    if name in ('semiearth_online', 'semiearth_auto'):
        model.purifier.vlm.to(device)  # build it now, not in a timed step
    if name == 'semiearth_auto':
        model.purifier.bind_images(images)
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    if amp:
        optim_cfg['type'] = 'AmpOptimWrapper'
    return model, build_optim_wrapper(model, optim_cfg)


def auto_cache_dir(cfg) -> str:
    return osp.join(cfg.model.purifier.cache_dir, 'auto')


def sync(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize(device)


def device_name(device) -> str:
    if str(device).startswith('cuda'):
        return torch.cuda.get_device_name(torch.device(device))
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or 'cpu'


def free_cuda():
    gc.collect()
    torch.cuda.empty_cache()


def time_variants(cfg, names, batches, warmup, n_batches, device, amp, passes=1,
                  images=None):
    """Seconds of each variant's timed steps (all variants resident), one
    dict per pass over the same batches (a second pass is what
    ``semiearth_auto`` costs once its cache holds the images)."""
    variants = {name: build_variant(cfg, name, device, amp, images) for name in names}
    times = [{name: [] for name in names} for _ in range(passes)]
    for p in range(passes):
        for step in range(n_batches):
            batch = batches[step]
            # rotate the order each step so no variant always runs first
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


def measure_memory(cfg, names, batches, n_batches, steps, device, amp):
    """Peak CUDA memory (MiB) of each variant built and stepped alone."""
    allocated, reserved = {}, {}
    mib = 2 ** 20
    for name in names:
        free_cuda()
        base = torch.cuda.memory_allocated(device)
        base_reserved = torch.cuda.memory_reserved(device)
        torch.cuda.reset_peak_memory_stats(device)
        model, optim = build_variant(cfg, name, device, amp)
        for step in range(steps):
            model.train_step(copy.deepcopy(batches[step % n_batches]), optim)
        sync(device)
        allocated[name] = round((torch.cuda.max_memory_allocated(device) - base) / mib, 1)
        reserved[name] = round((torch.cuda.max_memory_reserved(device) - base_reserved)
                               / mib, 1)
        del model, optim
    free_cuda()
    return allocated, reserved


# ---------------------------------------------------------------- main
def main(argv=None):
    args = parse_args(argv)
    options = dict(args.cfg_options or {})
    cfg = load_semi_config(args.config, options, args.vlm_checkpoint)
    kind = model_kind(cfg, args.config)
    if args.batch_size:
        options.update(batch_options(cfg, kind, args.batch_size, args.config))
    has_purifier = kind == 'semi' and bool(cfg.model.get('purifier'))
    tmp = None
    if has_purifier:
        if args.random_vlm:
            options.update({'model.purifier.vlm.random_init': True,
                            'model.purifier.vlm.pretrained': None,
                            'model.purifier.vlm.checkpoint': None})
        tmp = tempfile.mkdtemp(prefix='semiearth_bench_cache_')
        options['model.purifier.cache_dir'] = tmp
    try:
        return _run(args, options, kind, tmp)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(args, options, kind, cache_dir):
    cfg = load_semi_config(args.config, options, args.vlm_checkpoint)
    names = config_variants(cfg, kind, args.variants, args.config)
    if args.no_pretrained:
        strip_pretrained(cfg.model)
    device = torch.device(args.device)
    batch_size = int(cfg.train_dataloader.batch_size)
    num_labeled = batch_size // 2 if kind == 'semi' else batch_size
    if kind == 'semi':
        num_labeled = int((cfg.train_dataloader.get('sampler') or {}).get(
            'num_labeled', num_labeled))
    crop = crop_size(cfg, kind, args.crop, args.config)
    n_batches = args.warmup + args.iters
    if args.fake_data:
        if crop is None:
            raise BenchmarkError(
                f'{args.config}: --fake-data needs a crop size and the config has no '
                '`crop_size` variable and no data_preprocessor `size`. Fix: add '
                '--crop H W.')
        if args.crop:  # the preprocessor pads to the crop
            for dp in data_preprocessors(cfg, kind):
                if dp.get('size'):
                    dp['size'] = tuple(crop)
        batches = FakeBatches(kind, batch_size, num_labeled, crop, num_bands(cfg, kind),
                              num_classes(cfg, kind, args.config), unlabeled_layout(cfg))
    else:
        batches = real_batches(cfg, n_batches)

    precompute_s = None
    images = None
    if 'semiearth_auto' in names:
        # an empty cache with the calibration, as VLMEvidenceHook leaves it
        if args.fake_data:
            precompute_fake_evidence(cfg, batches, n_batches, device, auto_cache_dir(cfg),
                                     maps=False)
            images = FakeImages(cfg, batches)
        else:
            model, _ = build_variant(cfg, 'semiearth_online', device, args.amp)
            model.purifier.cache_dir = auto_cache_dir(cfg)
            model.purifier.evidence = 'auto'
            VLMEvidenceHook().before_train(types.SimpleNamespace(cfg=cfg, model=model))
            images = model.purifier.image_source
            for name in os.listdir(auto_cache_dir(cfg)):
                if name.endswith('.npy'):  # the labeled maps: training meets unlabeled ones
                    os.remove(osp.join(auto_cache_dir(cfg), name))
            del model
    if 'semiearth_cached' in names:
        t0 = time.perf_counter()
        if args.fake_data:
            precompute_fake_evidence(cfg, batches, n_batches, device,
                                     cfg.model.purifier.cache_dir)
        else:
            argv_pre = [args.config, '--device', args.device, '--cfg-options'] + \
                [f'{k}={v}' for k, v in options.items()]
            if args.vlm_checkpoint:
                argv_pre += ['--vlm-checkpoint', args.vlm_checkpoint]
            precompute_vlm.main(argv_pre)
        precompute_s = time.perf_counter() - t0
        if device.type == 'cuda':
            free_cuda()

    passes = 2 if 'semiearth_auto' in names else 1
    per_pass = time_variants(cfg, names, batches, args.warmup, n_batches, device, args.amp,
                             passes, images)
    times = per_pass[-1]  # the steady state: every cache holds every image

    peak_mem = peak_reserved = None
    mem_note = CPU_MEM_NOTE
    if device.type == 'cuda' and args.mem_steps:
        free_cuda()
        peak_mem, peak_reserved = measure_memory(cfg, names, batches, n_batches,
                                                 args.mem_steps, device, args.amp)
        mem_note = (f'each variant built alone, peak over {args.mem_steps} untimed '
                    'steps, minus what was allocated before it was built')
    elif device.type == 'cuda':
        mem_note = 'not measured (--mem-steps 0)'

    # the JSON's medians (to the microsecond); ratios are their quotients
    med = {name: round(statistics.median(ts), 6) for name, ts in times.items()}
    for name, ts in times.items():
        mem = f', peak {peak_mem[name]:.0f} MiB' if peak_mem else ''
        print(f'{name:<18} median {med[name]:.4f} s/step  (min {min(ts):.4f}, '
              f'max {max(ts):.4f}, {len(ts)} steps{mem})')
    baseline = names[0]
    summary = dict(
        config=args.config, device=str(device), device_name=device_name(device),
        amp=args.amp, fake_data=args.fake_data, batch_size=batch_size,
        crop=list(crop) if crop else None, steps=args.iters, warmup=args.warmup,
        variants=names, baseline=baseline,
        seconds_per_step=med,
        seconds_min_max={k: [round(min(v), 6), round(max(v), 6)] for k, v in times.items()},
        peak_mem_mb=peak_mem, mem_note=mem_note)
    if peak_reserved is not None:
        summary['peak_mem_reserved_mb'] = peak_reserved
    for name in names[1:]:
        summary[f'{name}_vs_{baseline}'] = round(med[name] / med[baseline], 3)
    if kind == 'semi' and cfg.model.get('purifier'):
        summary.update(
            vlm=cfg.model.purifier.vlm.get('model_name'),
            vlm_weights='random (timing only)' if args.random_vlm else 'as configured')
        if precompute_s is not None:
            summary['precompute_s'] = round(precompute_s, 2)
        if 'fixmatch' in med:
            for name, key in (('semiearth_online', 'online_vs_fixmatch'),
                              ('semiearth_cached', 'cached_vs_fixmatch')):
                if name in med:
                    summary[key] = round(med[name] / med['fixmatch'], 3)
        if 'semiearth_cached' in med:
            summary['target_cached_le'] = TARGET_CACHED_LE
        if 'semiearth_auto' in med and 'fixmatch' in med:
            first = {k: statistics.median(v) for k, v in per_pass[0].items()}
            summary.update(
                auto_first_pass_vs_fixmatch=round(first['semiearth_auto'] / first['fixmatch'], 3),
                auto_vs_fixmatch=round(med['semiearth_auto'] / med['fixmatch'], 3),
                target_auto_le=TARGET_AUTO_LE)
        if 'semiearth_auto' in med:
            # maps the first pass wrote through (one per unlabeled image met)
            summary['auto_maps_computed'] = sum(
                n.endswith('.npy') for n in os.listdir(auto_cache_dir(cfg)))
    print(json.dumps(summary, separators=(',', ':')), flush=True)
    return summary


if __name__ == '__main__':
    try:
        main()
    except BenchmarkError as e:
        sys.exit(f'benchmark_step: error: {e}')
