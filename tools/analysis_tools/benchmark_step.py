"""Time training steps of FixMatch, SemiEarth (online VLM) and SemiEarth
(cached VLM evidence) side by side on the same batches.

    python tools/analysis_tools/benchmark_step.py CONFIG [--vlm-checkpoint PATH]

CONFIG is a SemiEarth config; FixMatch is the same config without the
purifier. The three models are built with the same seed and stepped in turn
on each batch (so machine noise hits them alike); a step is
``model.train_step``: data preprocessing, teacher and VLM forward, purifier,
student forward/backward, optimizer step. The cache is computed first by
``tools/precompute_vlm.py`` into a temporary directory (not timed). Ends
with one JSON line: median seconds per step and the ratios to FixMatch.
``--random-vlm`` times a VLM of the same architecture with random weights
(for machines without weights: the cost does not depend on the values).
"""
import argparse
import copy
import json
import os.path as osp
import statistics
import sys
import tempfile
import time

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', 'projects'))
sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))
import semiearth  # noqa: E402,F401
import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from mmseg.registry import MODELS  # noqa: E402

import precompute_vlm  # noqa: E402
from semiearth.apis import load_semi_config, purifier_cfg  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config', help='a SemiEarth config')
    p.add_argument('--iters', type=int, default=10, help='timed steps per method')
    p.add_argument('--warmup', type=int, default=2, help='untimed steps per method')
    p.add_argument('--vlm-checkpoint', help='local VLM weights')
    p.add_argument('--random-vlm', action='store_true',
                   help='VLM with random weights (timing only)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def sync(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def main(argv=None):
    args = parse_args(argv)
    options = dict(args.cfg_options or {})
    if args.random_vlm:
        options.update({'model.purifier.vlm.random_init': True,
                        'model.purifier.vlm.pretrained': None,
                        'model.purifier.vlm.checkpoint': None})
    cache_dir = tempfile.mkdtemp(prefix='semiearth_bench_cache_')
    options['model.purifier.cache_dir'] = cache_dir
    cfg = load_semi_config(args.config, options, args.vlm_checkpoint)
    purifier_cfg(cfg)
    argv_pre = [args.config, '--device', args.device, '--cfg-options'] + \
        [f'{k}={v}' for k, v in options.items()]
    if args.vlm_checkpoint:
        argv_pre += ['--vlm-checkpoint', args.vlm_checkpoint]
    t0 = time.perf_counter()
    precompute_vlm.main(argv_pre)
    precompute_s = time.perf_counter() - t0

    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.update(num_workers=0, persistent_workers=False)
    batches, it = [], iter(Runner.build_dataloader(loader_cfg, seed=0))
    for _ in range(args.warmup + args.iters):
        batches.append(next(it))

    variants = {}
    for name, purifier in (('fixmatch', None), ('semiearth_online', 'online'),
                           ('semiearth_cached', 'cached')):
        model_cfg = copy.deepcopy(cfg.model)
        if purifier is None:
            model_cfg.purifier = None
        else:
            model_cfg.purifier.evidence = purifier
        torch.manual_seed(0)
        model = MODELS.build(model_cfg).to(args.device)
        model.init_weights()
        model.train()
        if purifier == 'online':
            model.purifier.vlm.to(args.device)  # build it now, not in a timed step
        optim = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
        variants[name] = (model, optim)
    times = {name: [] for name in variants}
    names = list(variants)
    for step, batch in enumerate(batches):
        # rotate the order each step so no method always runs first
        for name in names[step % 3:] + names[:step % 3]:
            model, optim = variants[name]
            sync(args.device)
            t = time.perf_counter()
            model.train_step(copy.deepcopy(batch), optim)
            sync(args.device)
            if step >= args.warmup:
                times[name].append(time.perf_counter() - t)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    for name, ts in times.items():
        print(f'{name:<18} median {med[name]:.3f} s/step  (min {min(ts):.3f}, '
              f'max {max(ts):.3f}, {len(ts)} steps)')
    summary = dict(
        device=str(args.device), batch_size=cfg.train_dataloader.batch_size,
        steps=args.iters, vlm=cfg.model.purifier.vlm.get('model_name'),
        vlm_weights='random (timing only)' if args.random_vlm else 'as configured',
        precompute_s=round(precompute_s, 2),
        seconds_per_step={k: round(v, 4) for k, v in med.items()},
        online_vs_fixmatch=round(med['semiearth_online'] / med['fixmatch'], 3),
        cached_vs_fixmatch=round(med['semiearth_cached'] / med['fixmatch'], 3),
        target_cached_le=1.10)
    print(json.dumps(summary, separators=(',', ':')))
    return summary


if __name__ == '__main__':
    main()
