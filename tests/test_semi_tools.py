"""FixMatch through the standard tools: 2-process DDP on CPU, resume with
teacher state, and build-time errors of semi configs."""
import glob
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config

from conftest import FIXMATCH_CONFIG, data_options, run_tool

SHORT = ['train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=1',
         'default_hooks.checkpoint.max_keep_ckpts=5',
         'default_hooks.logger.interval=1', 'train_dataloader.batch_size=4',
         'train_dataloader.sampler.batch_size=4', 'train_dataloader.sampler.num_labeled=2',
         'val_dataloader.batch_size=8']


def _log(work_dir):
    return open(sorted(glob.glob(osp.join(str(work_dir), '*', '*.log')))[-1]).read()


def _train(wd, nc_data, ckpt, iters, extra=()):
    opts = data_options(nc_data, ckpt, semi=True) + SHORT + [f'train_cfg.max_iters={iters}']
    return run_tool([sys.executable, 'tools/train.py', FIXMATCH_CONFIG, '--work-dir',
                     str(wd), *extra, '--cfg-options', *opts])


def test_fixmatch_resume_keeps_teacher_and_schedule(tmp_path, nc_data, mbv2_ms6):
    wd = tmp_path / 'fm'
    _train(wd, nc_data, mbv2_ms6, 2)
    log = _log(wd)
    for key in ('sup.loss_ce', 'unsup.loss_ce', 'pseudo.mask_ratio', 'pseudo.acc_all',
                'teacher/mIoU', 'student/mIoU'):
        assert key in log, key
    assert glob.glob(str(wd / 'best_teacher_mIoU_iter_*.pth'))

    _train(wd, nc_data, mbv2_ms6, 3, extra=['--resume'])
    log = _log(wd)
    assert 'resumed epoch: 0, iter: 2' in log
    # the sampler stream goes on from batch 2, no finished batch is reloaded
    assert 'SemiSampler starts at batch 2; no finished batch is loaded' in log
    c2 = torch.load(wd / 'iter_2.pth', map_location='cpu', weights_only=False)['state_dict']
    c3 = torch.load(wd / 'iter_3.pth', map_location='cpu', weights_only=False)['state_dict']
    m = min(1 - 1 / (2 + 1), 0.996)  # EMA momentum after 0-based iteration 2
    checked = 0
    for k, v in c3.items():
        if k.startswith('teacher.') and v.is_floating_point():
            s3 = c3['student.' + k[len('teacher.'):]]
            torch.testing.assert_close(v, m * c2[k] + (1 - m) * s3, rtol=1e-5, atol=1e-6)
            checked += 1
    assert checked > 100
    # the teacher differs from the student: it was restored, not re-copied
    assert not torch.equal(c3['teacher.decode_head.conv_seg.weight'],
                           c3['student.decode_head.conv_seg.weight'])


@pytest.mark.timeout(600)
def test_fixmatch_dist_train_two_processes_on_cpu(tmp_path, nc_data, mbv2_ms6):
    wd = tmp_path / 'dist'
    opts = data_options(nc_data, mbv2_ms6, semi=True) + SHORT + ['train_cfg.max_iters=2']
    run_tool(['bash', 'tools/dist_train.sh', FIXMATCH_CONFIG, '2', '--work-dir', str(wd),
              '--cfg-options', *opts], env={'PYTHON': sys.executable, 'PORT': '29623'})
    log = _log(wd)
    assert 'GPU number: 2' in log and 'Iter(train) [2/2]' in log
    assert 'unsup.loss_ce' in log and 'teacher/mIoU' in log
    assert osp.isfile(wd / 'iter_2.pth')


def _build_train_loader(cfg):
    from mmengine.runner import Runner
    return Runner.build_dataloader(cfg.train_dataloader)


def test_empty_labeled_split_fails_at_build(nc_data, tmp_path):
    import shutil
    root = tmp_path / 'data'
    shutil.copytree(nc_data, root)
    open(root / 'splits' / 'train_labeled_1of8.txt', 'w').close()
    cfg = Config.fromfile(FIXMATCH_CONFIG)
    for part in ('labeled', 'unlabeled'):
        cfg.train_dataloader.dataset[part].data_root = str(root)
    with pytest.raises(ValueError, match=r"train_labeled_1of8\.txt' names no tile"):
        _build_train_loader(cfg)


def test_batch_spec_that_does_not_fit_fails_at_build(nc_data):
    cfg = Config.fromfile(FIXMATCH_CONFIG)
    for part in ('labeled', 'unlabeled'):
        cfg.train_dataloader.dataset[part].data_root = nc_data
    cfg.train_dataloader.sampler.num_labeled = 16
    with pytest.raises(ValueError, match='num_labeled=16 does not fit batch_size=16'):
        _build_train_loader(cfg)


def test_tools_close_the_process_group_after_a_finished_run(tmp_path):
    """tools/train.py and test.py end with close_process_group(): a gloo group
    left to interpreter exit can abort a rank after a finished run."""
    import torch.distributed as dist
    from semiearth.apis.cli import close_process_group
    close_process_group()  # no group: nothing to do
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}',
                            rank=0, world_size=1)
    try:
        assert dist.is_initialized()
        close_process_group()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    for tool, call in (('train.py', 'runner.train()'), ('test.py', 'runner.test()')):
        src = open(osp.join(osp.dirname(FIXMATCH_CONFIG), '..', '..', 'tools', tool)).read()
        assert f'    {call}\n    close_process_group()\n' in src, tool
