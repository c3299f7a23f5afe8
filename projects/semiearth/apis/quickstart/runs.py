"""The quick start's runs of the repository's tools: converting a split,
precomputing the VLM evidence, and training then testing one method and
seed with ``tools/train.py`` and ``tools/test.py`` (in subprocesses, as a
user runs them)."""
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from typing import List, Optional

from .methods import CONTINUE, Method, config_facts
from .settings import DEFAULT_DATA_ROOT, QuickstartSettings
from .training_logs import best_val, read_curves


class QuickstartError(RuntimeError):
    """A run failed; the message names its log."""


def run_logged(cmd: List[str], log_path: str, root: str) -> None:
    """Run a tool in ``root``, echoing its progress lines and keeping the
    full log in ``log_path``."""
    print('$ ' + ' '.join(cmd), flush=True)
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            log.write(line)
            if 'Iter(train)' in line or 'Iter(val)' in line or 'Iter(test)' in line:
                # keep the progress readable: time stamp, iteration, loss or metric
                print('   ' + line.split(' - mmengine - INFO - ')[-1].strip()[:160],
                      flush=True)
        if proc.wait() != 0:
            raise QuickstartError(f'{cmd[1]} failed (exit {proc.returncode}); '
                                  f'full log: {log_path}')


def data_options(method: Method, s: QuickstartSettings) -> List[str]:
    """--cfg-options pointing a config at the data (none for the configs'
    own data root)."""
    if s.data_root == DEFAULT_DATA_ROOT:
        return []
    facts = config_facts(s.config_path(method.config))
    train = (['train_dataloader.dataset.labeled', 'train_dataloader.dataset.unlabeled']
             if facts.semi else ['train_dataloader.dataset'])
    opts = [f'{ds}.data_root={s.data_root}'
            for ds in train + ['val_dataloader.dataset', 'test_dataloader.dataset']]
    if facts.vlm:
        opts.append(f'model.purifier.cache_dir={s.data_root}/vlm_cache/vit-b16_segearth')
    return opts


def method_options(method: Method, s: QuickstartSettings) -> List[str]:
    """--cfg-options every tool run of ``method`` needs (data, VLM weights)."""
    opts = data_options(method, s) + list(s.cfg_options)
    if s.vlm_checkpoint and config_facts(s.config_path(method.config)).vlm:
        opts.append(f'model.purifier.vlm.checkpoint={osp.abspath(s.vlm_checkpoint)}')
    return opts


def schedule_options(iters: int) -> List[str]:
    """Train ``iters`` iterations, validating (and checkpointing) 3 times."""
    every = max(1, iters // 3)
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={every}',
            f'param_scheduler.end={iters}', f'default_hooks.checkpoint.interval={every}']


def iteration_options(method: Method, s: QuickstartSettings) -> List[str]:
    """The schedule of ``method``'s runs: --continue-iters, --max-iters, or
    (none) the config's own."""
    if method.iterations == CONTINUE:
        return schedule_options(s.continue_iters)
    return schedule_options(s.max_iters) if s.max_iters else []


def iterations(method: Method, s: QuickstartSettings) -> int:
    """How many iterations ``method``'s runs train."""
    if method.iterations == CONTINUE:
        return s.continue_iters
    return s.max_iters or config_facts(s.config_path(method.config)).max_iters


def prepare_data(s: QuickstartSettings) -> None:
    """Convert the scene with this split seed if not done yet."""
    if s.split_seed and not osp.isfile(osp.join(s.root, s.data_root, 'meta.json')):
        print(f'[quickstart] converting the scene with split seed {s.split_seed} -> '
              f'{s.data_root}', flush=True)
        subprocess.run([sys.executable, 'tools/dataset_converters/nc_landsat.py', '--out',
                        s.data_root, '--split-seed', str(s.split_seed)],
                       cwd=s.root, check=True)


def prepare_vlm(method: Method, s: QuickstartSettings) -> Optional[str]:
    """Precompute ``method``'s VLM evidence (``tools/precompute_vlm.py``);
    None when ready, else why not (the log's last line)."""
    log = osp.join(s.work_dir, method.name, 'precompute_vlm.log')
    os.makedirs(osp.dirname(log), exist_ok=True)
    cmd = [sys.executable, 'tools/precompute_vlm.py', method.config]
    opts = method_options(method, s)
    if opts:
        cmd += ['--cfg-options', *opts]
    print('$ ' + ' '.join(cmd), flush=True)
    with open(log, 'w') as f:
        proc = subprocess.run(cmd, cwd=s.root, stdout=f, stderr=subprocess.STDOUT, text=True)
    if proc.returncode == 0:
        return None
    with open(log) as f:
        lines = [line.strip() for line in f if line.strip()]
    return (lines[-1] if lines else f'exit {proc.returncode}') + f' (full log: {log})'


def train_and_test(method: Method, seed: int, s: QuickstartSettings,
                   load_from: Optional[str] = None) -> dict:
    """Train ``method`` with ``seed`` (from ``load_from`` when given) in
    ``<work_dir>/<method>/seed<seed>``, then test its best-on-val checkpoint.
    Returns the test metrics with ``checkpoint``, ``seconds``, ``curves``
    (:func:`read_curves`) and ``val_miou`` (:func:`best_val` of the
    config's ``save_best``: the teacher's, or the student's for UniMatch)."""
    wd = osp.join(s.work_dir, method.name, f'seed{seed}')
    shutil.rmtree(wd, ignore_errors=True)  # a stale best checkpoint must not be picked up
    os.makedirs(wd, exist_ok=True)
    py = sys.executable
    opts = [f'randomness.seed={seed}'] + method_options(method, s)
    if load_from:
        opts.append(f'load_from={load_from}')
    opts += iteration_options(method, s)
    t0 = time.time()
    run_logged([py, 'tools/train.py', method.config, '--work-dir', wd, '--cfg-options', *opts],
               osp.join(wd, 'train.log'), s.root)
    facts = config_facts(s.config_path(method.config))
    best = sorted(glob.glob(osp.join(wd, facts.best_checkpoint_glob)))
    if not best:
        raise QuickstartError(f'no best checkpoint ({facts.best_checkpoint_glob}, the '
                              f"config's save_best) in {wd}: did validation run?")
    test_wd = osp.join(wd, 'test')
    test_opts = method_options(method, s)
    run_logged([py, 'tools/test.py', method.config, best[-1], '--work-dir', test_wd,
                *(['--cfg-options', *test_opts] if test_opts else [])],
               osp.join(wd, 'test.log'), s.root)
    jsons = sorted(glob.glob(osp.join(test_wd, '*', '*.json')))
    with open(jsons[-1]) as f:
        metrics = json.load(f)
    metrics['checkpoint'] = best[-1]
    metrics['seconds'] = round(time.time() - t0, 1)
    metrics['curves'] = read_curves(wd)
    metrics['val_miou'] = best_val(wd, facts.save_best)
    return metrics
