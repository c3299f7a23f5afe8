"""Soak test: a long training run with the resident memory sampled, to show
that nothing grows beyond the warm-up (a leak costs a GPU-day run at its end).

    python tools/analysis_tools/soak.py CONFIG --iters 1500 [--every 50]
        [--work-dir DIR] [--cfg-options ...]

Trains CONFIG for ``--iters`` iterations through the normal Runner (its
hooks, validation and checkpoints included) and samples, every ``--every``
iterations, the RSS of the training process and of its dataloader workers
(Linux ``/proc``). Writes ``rss.csv`` and ``rss.png`` to the work dir and
prints one JSON line: RSS after the warm-up (``--warmup``, default 20% of the
run), at the end, and the growth between them in MB and per 1,000 iterations.
"""
import argparse
import csv
import json
import os
import os.path as osp
import time

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from semiearth.apis.cli import CfgOptionsAction


def rss_mb(pid) -> float:
    """Resident set size of a process in MB (0 if it has gone)."""
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid) -> list:
    found = []
    for task in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{task}/children') as f:
                found += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return found


class RSSSampler(Hook):
    """Record (iteration, seconds, main RSS, workers' RSS) every ``every``
    iterations."""
    priority = 'LOWEST'

    def __init__(self, every: int) -> None:
        self.every, self.rows, self.start = every, [], time.time()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        it = runner.iter + 1
        if it % self.every == 0 or it == 1:
            pid = os.getpid()
            self.rows.append((it, round(time.time() - self.start, 1), round(rss_mb(pid), 1),
                              round(sum(rss_mb(c) for c in children(pid)), 1)))


def total(row) -> float:
    """RSS of the training process and its dataloader workers (MB)."""
    return row[2] + row[3]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('--iters', type=int, default=1500)
    p.add_argument('--every', type=int, default=50)
    p.add_argument('--warmup', type=int, default=None,
                   help='iterations of warm-up (default: 20%% of --iters)')
    p.add_argument('--work-dir', default='work_dirs/soak')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    args = p.parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(dict(train_cfg=dict(max_iters=args.iters),
                             param_scheduler=dict(end=args.iters)))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir
    runner = Runner.from_cfg(cfg)
    sampler = RSSSampler(args.every)
    runner.register_hook(sampler)
    runner.train()

    rows = sampler.rows
    with open(osp.join(args.work_dir, 'rss.csv'), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['iteration', 'seconds', 'rss_main_mb', 'rss_workers_mb'])
        writer.writerows(rows)
    warmup = args.warmup if args.warmup is not None else args.iters // 5
    after = [r for r in rows if r[0] >= warmup]
    first, last = after[0], after[-1]
    growth = total(last) - total(first)
    span = max(last[0] - first[0], 1)
    summary = dict(config=args.config, iters=args.iters, warmup=warmup,
                   rss_after_warmup_mb=round(total(first), 1), rss_end_mb=round(total(last), 1),
                   growth_mb=round(growth, 1),
                   growth_mb_per_1k_iters=round(growth / span * 1000, 1),
                   peak_mb=round(max(total(r) for r in rows), 1), seconds=last[1])
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.plot([r[0] for r in rows], [r[2] for r in rows], label='training process')
        ax.plot([r[0] for r in rows], [total(r) for r in rows], label='with dataloader workers')
        ax.axvline(warmup, color='grey', ls='--', lw=0.8)
        ax.set_xlabel('iteration')
        ax.set_ylabel('RSS (MB)')
        ax.set_title(osp.basename(args.config), fontsize=8)
        ax.legend()
        fig.tight_layout()
        fig.savefig(osp.join(args.work_dir, 'rss.png'), dpi=100)
        summary['plot'] = osp.join(args.work_dir, 'rss.png')
    except ImportError:
        pass
    print(json.dumps(summary))


if __name__ == '__main__':
    main()
