"""tools/train.py, tools/test.py and tools/dist_train.sh, run as a user runs
them, on the converted embedded dataset (a few iterations each)."""
import glob
import json
import os.path as osp
import sys

import numpy as np
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


def _quickstart_cli():
    import importlib.util
    spec = importlib.util.spec_from_file_location('quickstart_cli',
                                                  osp.join(ROOT, 'tools', 'quickstart.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    return cli


def test_quickstart_default_methods_and_their_configs():
    """The quick start's table: today's four methods are the default set, in
    order; UniMatch V2 and UniMatch (plain and purified) are rows outside it
    (and Mean Teacher, DWL) that --methods runs (any subset, or all); each config's facts
    (semi-supervised, VLM, schedule, best-checkpoint metric, model tested)
    read from the file."""
    cli = _quickstart_cli()
    from semiearth.apis.quickstart import baseline_of, config_facts, with_starts
    default = ['supervised', 'supervised_continued', 'fixmatch', 'semiearth']
    assert list(cli.DEFAULT_METHODS) == default
    others = ['unimatch_v2', 'unimatch_v2-vlmpp', 'unimatch', 'unimatch-vlmpp', 'mean_teacher',
              'mean_teacher-vlmpp', 'dwl', 'dwl-vlmpp']
    assert list(cli.METHODS) == default + others
    assert cli.parse_args([]).methods == default
    assert cli.parse_args(['--methods', 'all']).methods == list(cli.METHODS)
    subset = cli.parse_args(['--methods', 'unimatch', 'unimatch_v2']).methods
    assert with_starts(cli.METHODS, subset) == [('unimatch', 'supervised')]
    assert subset == ['supervised', 'unimatch_v2', 'unimatch']
    with pytest.raises(SystemExit):
        cli.parse_args(['--methods', 'unimatch_v3'])
    facts = {m: config_facts(osp.join(ROOT, r.config)) for m, r in cli.METHODS.items()}
    assert {m: (f.semi, f.vlm, f.max_iters) for m, f in facts.items()} == {
        'supervised': (False, False, 300), 'supervised_continued': (False, False, 300),
        'fixmatch': (True, False, 300), 'semiearth': (True, True, 300),
        'unimatch_v2': (True, False, 300), 'unimatch_v2-vlmpp': (True, True, 300),
        'unimatch': (True, False, 300), 'unimatch-vlmpp': (True, True, 300),
        'mean_teacher': (True, False, 300), 'mean_teacher-vlmpp': (True, True, 300),
        'dwl': (True, False, 300), 'dwl-vlmpp': (True, True, 300)}
    assert {m: (f.save_best, f.predict_on) for m, f in facts.items()} == {
        'supervised': ('mIoU', None), 'supervised_continued': ('mIoU', None),
        'fixmatch': ('teacher/mIoU', 'teacher'), 'semiearth': ('teacher/mIoU', 'teacher'),
        'unimatch_v2': ('teacher/mIoU', 'teacher'),
        'unimatch_v2-vlmpp': ('teacher/mIoU', 'teacher'),
        'unimatch': ('student/mIoU', 'student'), 'unimatch-vlmpp': ('student/mIoU', 'student'),
        'mean_teacher': ('teacher/mIoU', 'teacher'),
        'mean_teacher-vlmpp': ('teacher/mIoU', 'teacher'),
        'dwl': ('student/mIoU', 'student'), 'dwl-vlmpp': ('student/mIoU', 'student')}
    assert facts['unimatch'].best_checkpoint_glob == 'best_student_mIoU_iter_*.pth'
    assert all(baseline_of(cli.METHODS, m) == 'supervised_continued'
               for m in list(cli.METHODS)[2:])


def test_quickstart_records_read_each_methods_keys(tmp_path):
    """results.json's record of a method from fake logs: the best val value
    of the config's save_best (UniMatch: the student's), test mIoU per seed,
    mask ratio and pseudo-label accuracy per seed and the method's own loss
    terms (UniMatch's s1 / s2 / fp), paired with the continued supervised
    run seed by seed."""
    cli = _quickstart_cli()
    from semiearth.apis.quickstart import QuickstartSettings, paired_differences, summarise
    from semiearth.apis.quickstart.training_logs import best_val, read_curves
    per_seed = []
    for seed in (0, 1):
        wd = tmp_path / f'seed{seed}'
        (wd / '20260101_000000' / 'vis_data').mkdir(parents=True)
        lines = [dict(iter=i, **{'pseudo.mask_ratio': 0.1 * i + seed, 'pseudo.acc': 0.9,
                                 'unsup.loss_ce_s1': 1.0, 'unsup.loss_ce_s2': 2.0,
                                 'unsup.loss_ce_fp': 3.0 + seed, 'loss': 9.0})
                 for i in range(1, 11)]
        lines += [{'teacher/mIoU': 80.0, 'student/mIoU': 50.0 + seed, 'step': 5},
                  {'teacher/mIoU': 10.0, 'student/mIoU': 60.0 + seed, 'step': 10}]
        (wd / '20260101_000000' / 'vis_data' / 'scalars.json').write_text(
            ''.join(json.dumps(x) + '\n' for x in lines))
        curves = read_curves(str(wd))
        assert set(curves) == {'pseudo.mask_ratio', 'pseudo.acc', 'unsup.loss_ce_s1',
                               'unsup.loss_ce_s2', 'unsup.loss_ce_fp'}
        assert best_val(str(wd), 'student/mIoU') == 60.0 + seed
        assert best_val(str(wd), 'teacher/mIoU') == 80.0
        per_seed.append({'mIoU': 40.0 + seed, 'IoU.water': 50.0, 'checkpoint': 'c.pth',
                         'seconds': 1.0, 'curves': curves,
                         'val_miou': best_val(str(wd), 'student/mIoU')})
    s = QuickstartSettings(root=ROOT, work_dir=str(tmp_path), seeds=[0, 1])
    rec = summarise(cli.METHODS['unimatch'], per_seed, s)
    assert rec['miou_per_seed'] == pytest.approx([0.40, 0.41])
    assert rec['val_miou_per_seed'] == pytest.approx([0.60, 0.61])
    assert (rec['best_by'], rec['model_tested']) == ('student/mIoU', 'student')
    mask = rec['pseudo_labels']['pseudo.mask_ratio']
    assert np.allclose(mask['per_seed'], [[0.55, 0.8], [1.55, 1.8]])
    assert mask['mean'] == pytest.approx(1.05)
    assert rec['pseudo_labels']['pseudo.acc']['end'] == pytest.approx(0.9)
    assert set(rec['unsup_losses']) == {'unsup.loss_ce_s1', 'unsup.loss_ce_s2',
                                        'unsup.loss_ce_fp'}
    assert rec['unsup_losses']['unsup.loss_ce_fp']['per_seed'] == [[3.0, 3.0], [4.0, 4.0]]
    base = dict(rec, method='supervised_continued', miou_per_seed=[0.30, 0.36])
    records = [base, rec]
    paired_differences(records, cli.METHODS)
    assert rec['paired_diff']['vs'] == 'supervised_continued'
    assert rec['paired_diff']['per_seed'] == pytest.approx([0.10, 0.05])
