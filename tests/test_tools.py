"""tools/train.py, tools/test.py and tools/dist_train.sh, run as a user runs
them, on the converted embedded dataset (a few iterations each)."""
import glob
import json
import os.path as osp
import sys

import pytest

from conftest import ROOT, SUP_CONFIG, data_options, run_tool

SHORT = ['train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
         'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2',
         'val_dataloader.batch_size=8']


def _train(work_dir, nc_data, ckpt, iters, extra=(), launcher=None):
    opts = data_options(nc_data, ckpt) + SHORT + [f'train_cfg.max_iters={iters}']
    cmd = [sys.executable, 'tools/train.py', SUP_CONFIG, '--work-dir', str(work_dir),
           *extra, '--cfg-options', *opts]
    return run_tool(cmd)


def _log(work_dir):
    return open(sorted(glob.glob(osp.join(str(work_dir), '*', '*.log')))[-1]).read()


def test_train_then_resume_then_test(tmp_path, nc_data, mbv2_ms6):
    wd = tmp_path / 'wd'
    _train(wd, nc_data, mbv2_ms6, 2)
    first = _log(wd)
    assert 'PretrainedInit: load from' in first and mbv2_ms6 in first
    assert osp.isfile(wd / 'iter_2.pth')
    assert glob.glob(str(wd / 'best_mIoU_iter_*.pth'))

    # a run cut off at iteration 2 goes on from there with --resume
    _train(wd, nc_data, mbv2_ms6, 4, extra=['--resume'])
    log = _log(wd)
    assert 'resumed epoch: 0, iter: 2' in log
    assert 'Iter(train) [4/4]' in log and 'Iter(train) [1/4]' not in log
    assert osp.isfile(wd / 'iter_4.pth')

    test_wd = tmp_path / 'test'
    out_dir = tmp_path / 'pred'
    run_tool([sys.executable, 'tools/test.py', SUP_CONFIG, str(wd / 'iter_4.pth'),
              '--work-dir', str(test_wd), '--out', str(out_dir),
              '--cfg-options', *data_options(nc_data)])
    metrics = json.load(open(sorted(glob.glob(str(test_wd / '*' / '*.json')))[-1]))
    assert 0 <= metrics['mIoU'] <= 100
    assert {f'IoU.{c}' for c in ('developed', 'forest', 'water')} <= set(metrics)
    n_test = len(open(osp.join(nc_data, 'splits/test.txt')).read().split())
    assert len(glob.glob(str(out_dir / '*.png'))) == n_test


def test_amp_flag_switches_the_optimizer_wrapper(tmp_path, nc_data, mbv2_ms6):
    import subprocess

    import torch
    wd = tmp_path / 'amp'
    opts = data_options(nc_data, mbv2_ms6) + SHORT + ['train_cfg.max_iters=1']
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', SUP_CONFIG, '--work-dir', str(wd), '--amp',
         '--cfg-options', *opts], cwd=ROOT, capture_output=True, text=True, timeout=300)
    cfg_text = open(glob.glob(str(wd / '*.py'))[0]).read()
    assert "type='AmpOptimWrapper'" in cfg_text and "loss_scale='dynamic'" in cfg_text
    if torch.cuda.is_available():
        assert proc.returncode == 0, proc.stderr[-3000:]
    else:  # mmengine refuses AMP on the CPU, with its own clear message
        assert proc.returncode != 0
        assert 'only available training on gpu' in proc.stderr


@pytest.mark.timeout(600)
def test_dist_train_two_processes_on_cpu(tmp_path, nc_data, mbv2_ms6):
    wd = tmp_path / 'dist'
    opts = data_options(nc_data, mbv2_ms6) + SHORT + ['train_cfg.max_iters=2']
    proc = run_tool(['bash', 'tools/dist_train.sh', SUP_CONFIG, '2',
                     '--work-dir', str(wd), '--cfg-options', *opts],
                    env={'PYTHON': sys.executable, 'PORT': '29611'})
    log = _log(wd)
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's count of launched processes (world size)
    assert 'Iter(train) [2/2]' in log
    assert osp.isfile(wd / 'iter_2.pth')
    assert proc.returncode == 0


def test_quickstart_method_table():
    """tools/quickstart.py's methods are table rows; the runs they start
    from are added, each is paired with its fair baseline, and a row
    naming a later or unknown start is refused."""
    from semiearth.apis.quickstart import (CONTINUE, Method, baseline_of, method_table,
                                           with_starts)
    sup, semi = 'configs/sup.py', 'configs/semi.py'
    table = method_table([
        Method('supervised', sup),
        Method('supervised_continued', sup, start='supervised', iterations=CONTINUE),
        Method('fixmatch', semi, start='supervised', iterations=CONTINUE),
        Method('unimatch', 'configs/um.py', start='supervised', iterations=CONTINUE),
    ])
    assert [baseline_of(table, m) for m in table] == [
        None, 'supervised', 'supervised_continued', 'supervised_continued']
    methods = ['fixmatch', 'unimatch']
    assert with_starts(table, methods) == [('fixmatch', 'supervised')]
    assert methods == ['supervised', 'fixmatch', 'unimatch']
    methods = ['supervised', 'fixmatch']
    assert with_starts(table, methods) == [] and methods == ['supervised', 'fixmatch']
    with pytest.raises(ValueError, match="'fixmatch' starts from 'teacher'.*earlier row"):
        method_table([Method('fixmatch', semi, start='teacher')])
    with pytest.raises(ValueError, match="'a' is in the table twice"):
        method_table([Method('a', sup), Method('a', semi)])
    with pytest.raises(ValueError, match="iterations must be one of"):
        Method('a', sup, iterations='300')


def test_quickstart_default_methods_and_their_configs():
    """The quick start's default table: today's four methods in order, each
    config's facts (semi-supervised, VLM, schedule) read from the file."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('quickstart_cli',
                                                  osp.join(ROOT, 'tools', 'quickstart.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    from semiearth.apis.quickstart import baseline_of, config_facts
    assert list(cli.METHODS) == ['supervised', 'supervised_continued', 'fixmatch', 'semiearth']
    assert cli.parse_args([]).methods == list(cli.METHODS)
    facts = {m: config_facts(osp.join(ROOT, r.config)) for m, r in cli.METHODS.items()}
    assert [(f.semi, f.vlm, f.max_iters) for f in facts.values()] == [
        (False, False, 300), (False, False, 300), (True, False, 300), (True, True, 300)]
    assert baseline_of(cli.METHODS, 'semiearth') == 'supervised_continued'
