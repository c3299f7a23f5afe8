"""Time training steps of a segmentation config's variants side by side on
the same batches, with their peak GPU memory.

    python tools/analysis_tools/benchmark_step.py CONFIG [--fake-data]
        [--batch-size N] [--crop H W] [--amp] [--variants NAME ... | --all-methods]
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
  times are reported) the steady state;
- a config of another S4 method (UniMatch V2, UniMatch, ...): ``fixmatch``
  and the method (``unimatch_v2``, ``unimatch``, ``mean_teacher``, ``dwl``),
  with a purifier also ``semiearth_cached`` and ``<method>_cached``.

Any registered method can be timed on any semi-supervised config's model: a
variant is the config's model with that method's step (``model.semi_method``
with the class's defaults, the anchor's settings), without the purifier
(``<method>``) or with it (``<method>_cached`` / ``_online``; FixMatch's are
``semiearth_*``). ``--all-methods`` times every registered method against
FixMatch, each with cached evidence too when the config has a purifier: the
issue-23 comparison in one run. Fake batches then carry every branch the
methods read (a second strong view for UniMatch / UniMatch V2); real batches
must (a ``*_semi-2strong`` dataset config).

``--variants`` keeps some of them (the first one given is the baseline of
the ratios). Every variant is built with the same seed, and all are stepped
in turn on each batch, the order rotated every step, so machine noise hits
them alike. A step is ``model.train_step``: data preprocessing, (teacher and
VLM forward, purifier,) forward, backward and optimizer step; the EMA
teacher update (a hook) is not part of it. The summary adds
``methods_vs_fixmatch`` (each method's median over FixMatch's),
``purifier_overhead`` (each method's cached-evidence variant over its plain
one; target ``target_purifier_overhead_le`` 1.05) and, with UniMatch V2,
``unimatch_v2_structure_bound``: the ratio its structure implies (one teacher
forward over the weak view, one student forward + backward over labeled + two
strong views, against FixMatch's one; a backward costing two forwards).

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
(second pass) and its target ``target_auto_le``. The benchmark itself is
:mod:`semiearth.apis.benchmark`.
"""
import argparse
import json
import shutil
import sys
import tempfile

import torch

from semiearth.apis.benchmark import (ALL_VARIANTS, BenchmarkError, BenchmarkSettings,
                                      batch_options, model_kind, run_benchmark)
from semiearth.apis.cli import CfgOptionsAction
from semiearth.apis.vlm_tools import load_semi_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config', help='a supervised or semi-supervised (any S4 method, with or '
                   'without the purifier) config')
    p.add_argument('--iters', type=int, default=10, help='timed steps per variant')
    p.add_argument('--warmup', type=int, default=2, help='untimed steps per variant first')
    p.add_argument('--variants', nargs='+', choices=ALL_VARIANTS,
                   help='time only these (those the config has; the first is the baseline)')
    p.add_argument('--all-methods', action='store_true',
                   help='every registered S4 method against FixMatch on the config\'s '
                   'model, each with cached evidence too when the config has a purifier')
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
    if args.all_methods and args.variants:
        p.error('--all-methods chooses the variants; drop --variants')
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


def main(argv=None):
    args = parse_args(argv)
    options = dict(args.cfg_options or {})
    cfg = load_semi_config(args.config, options, args.vlm_checkpoint)
    kind = model_kind(cfg, args.config)
    if args.batch_size:
        options.update(batch_options(cfg, kind, args.batch_size, args.config))
    tmp = None
    if kind == 'semi' and cfg.model.get('purifier'):
        if args.random_vlm:
            options.update({'model.purifier.vlm.random_init': True,
                            'model.purifier.vlm.pretrained': None,
                            'model.purifier.vlm.checkpoint': None})
        # the evidence caches of the SemiEarth variants, deleted afterwards
        tmp = tempfile.mkdtemp(prefix='semiearth_bench_cache_')
        options['model.purifier.cache_dir'] = tmp
    try:
        summary = run_benchmark(BenchmarkSettings.from_args(args), options, kind)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(summary, separators=(',', ':')), flush=True)
    return summary


if __name__ == '__main__':
    try:
        main()
    except BenchmarkError as e:
        sys.exit(f'benchmark_step: error: {e}')
