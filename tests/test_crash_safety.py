"""Nothing lost: atomic checkpoints, a resume that survives a broken newest
checkpoint, and a bit-exact resume after kill -9 of a real tools/train.py."""
import collections
import os
import os.path as osp
import sys

import pytest
import torch
from mmengine.fileio import LocalBackend
from mmengine.logging import MessageHub

from conftest import FIXMATCH_CONFIG, ROOT, data_options, run_tool
from semiearth.engine import SafeCheckpointHook
from semiearth.engine.hooks.safe_checkpoint_hook import (CheckpointResumeError,
                                                         checkpoint_problem,
                                                         repair_last_checkpoint)


def _ckpt(path, value=1.0):
    torch.save({'state_dict': {'w': torch.full((64,), value)}, 'meta': {}}, path)
    return str(path)


def _truncate(path):
    size = osp.getsize(path)
    with open(path, 'r+b') as f:
        f.truncate(size // 2)


def _pointer(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


# ------------------------------------------------------------ unit level
def test_checkpoint_problem_tells_complete_from_partial(tmp_path):
    good = _ckpt(tmp_path / 'good.pth')
    assert checkpoint_problem(good) is None
    cut = _ckpt(tmp_path / 'cut.pth')
    _truncate(cut)
    assert 'incomplete' in checkpoint_problem(cut)
    assert checkpoint_problem(str(tmp_path / 'none.pth')) == 'missing'
    open(tmp_path / 'empty.pth', 'w').close()
    assert checkpoint_problem(str(tmp_path / 'empty.pth')) == 'empty'


class _FakeRunner:
    """What SafeCheckpointHook uses of a runner; ``fail_at`` makes the write
    of that step stop halfway (as a kill would)."""

    def __init__(self, work_dir, fail_at=None):
        self.work_dir = str(work_dir)
        self.message_hub = MessageHub.get_instance(f'fake-{work_dir}')
        self.fail_at = fail_at

    def save_checkpoint(self, out_dir, filename, *args, **kwargs):
        path = osp.join(out_dir, filename)
        _ckpt(path, value=float(len(filename)))
        if self.fail_at and f'iter_{self.fail_at}.' in filename:
            _truncate(path)
            raise KeyboardInterrupt('killed while writing')


def _hook(work_dir, keep=1):
    hook = SafeCheckpointHook(interval=2, by_epoch=False, max_keep_ckpts=keep)
    hook.out_dir, hook.file_backend = str(work_dir), LocalBackend()
    hook.keep_ckpt_ids = collections.deque(maxlen=keep)  # as MMEngine's before_train
    return hook


def test_an_interrupted_save_keeps_the_previous_checkpoint(tmp_path):
    """MMEngine removes the oldest checkpoint before writing the new one in
    place; here the new one is written aside and renamed when complete, and
    only then is the old one removed and last_checkpoint moved."""
    runner = _FakeRunner(tmp_path, fail_at=6)
    hook = _hook(tmp_path, keep=1)
    hook._save_checkpoint_with_step(runner, 4, {})
    assert _pointer(tmp_path) == str(tmp_path / 'iter_4.pth')
    with pytest.raises(KeyboardInterrupt):
        hook._save_checkpoint_with_step(runner, 6, {})
    assert checkpoint_problem(str(tmp_path / 'iter_4.pth')) is None
    assert not (tmp_path / 'iter_6.pth').exists()
    assert _pointer(tmp_path) == str(tmp_path / 'iter_4.pth')
    # an exception removes its partial file; a SIGKILL leaves it to the next start
    assert sorted(os.listdir(tmp_path)) == ['iter_4.pth', 'last_checkpoint']
    _ckpt(tmp_path / 'iter_6.pth.4242.0123abcd.partial')
    notes = repair_last_checkpoint(str(tmp_path))
    assert not (tmp_path / 'iter_6.pth.4242.0123abcd.partial').exists()
    assert any('iter_6.pth.4242.0123abcd.partial' in n and 'did not complete' in n
               for n in notes)
    assert _pointer(tmp_path) == str(tmp_path / 'iter_4.pth')
    # a complete save prunes only afterwards
    hook._save_checkpoint_with_step(_FakeRunner(tmp_path), 8, {})
    assert sorted(os.listdir(tmp_path)) == ['iter_8.pth', 'last_checkpoint']


def test_repair_falls_back_to_the_newest_complete_checkpoint(tmp_path):
    for step in (2, 4, 6):
        _ckpt(tmp_path / f'iter_{step}.pth')
    _truncate(tmp_path / 'iter_6.pth')                 # cut short
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_8.pth'))  # missing
    notes = repair_last_checkpoint(str(tmp_path))
    assert _pointer(tmp_path) == str(tmp_path / 'iter_4.pth')
    text = '\n'.join(notes)
    assert 'iter_8.pth, which is missing' in text
    assert 'skipped' in text and 'iter_6.pth: incomplete' in text
    assert 'resuming from' in text and 'iter_4.pth' in text
    # sound pointer: nothing to say, nothing changed
    assert repair_last_checkpoint(str(tmp_path)) == []


def test_no_complete_checkpoint_stops_a_resume_unless_asked_to_start_over(tmp_path):
    _ckpt(tmp_path / 'iter_2.pth')
    _truncate(tmp_path / 'iter_2.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))
    with pytest.raises(CheckpointResumeError, match=r'(?s)iter_2.pth, which is incomplete'
                       r'.*did not start over.*start_over=True'):
        repair_last_checkpoint(str(tmp_path), stop=True)
    assert _pointer(tmp_path) == str(tmp_path / 'iter_2.pth')  # nothing changed
    notes = repair_last_checkpoint(str(tmp_path))  # asked to start over
    assert not (tmp_path / 'last_checkpoint').exists()
    assert 'starts from the beginning' in notes[-1]
    # killed during the very first write: only a partial file, nothing to lose
    first = tmp_path / 'first'
    first.mkdir()
    _ckpt(first / 'iter_2.pth.77.0badf00d.partial')
    notes = repair_last_checkpoint(str(first), stop=True)
    assert len(notes) == 2 and 'starts from the beginning' in notes[-1]


# ------------------------------------------------- a real training process
def _config(tmp_path, name, at=None, mid_write=False):
    """The FixMatch NC Landsat config, 6 iterations of 2 + 2 tiles (what is
    tested is the resume, not the batch size), a checkpoint every 2,
    optionally with the kill switch."""
    hooks = ''
    if at:
        hooks = (f"custom_imports = dict(imports=['semiearth', 'kill_switch'], "
                 f"allow_failed_imports=False)\n"
                 f"custom_hooks = base_hooks + [dict(type='KillSwitchHook', at={at}, "
                 f"mid_write={mid_write})]\n")
    text = (f"_base_ = [{FIXMATCH_CONFIG!r}]\n"
            "train_cfg = dict(max_iters=6, val_interval=100)\n"
            "param_scheduler = dict(end=6)\n"
            "train_dataloader = dict(batch_size=4, sampler=dict(batch_size=4, num_labeled=2))\n"
            "default_hooks = dict(checkpoint=dict(interval=2, max_keep_ckpts=1, save_best=None),"
            " logger=dict(interval=1))\n")
    path = tmp_path / f'{name}.py'
    path.write_text(text)
    if hooks:
        from mmengine.config import Config
        base = Config.fromfile(str(path)).custom_hooks
        path.write_text(text + f'base_hooks = {base!r}\n' + hooks)
    return str(path)


def _train(config, work_dir, nc_data, mbv2_ms6, workers, resume=False, expect_kill=False):
    opts = data_options(nc_data, mbv2_ms6, semi=True)
    opts = [o for o in opts if 'workers' not in o or not o.startswith('train_dataloader')]
    opts += [f'train_dataloader.num_workers={workers}',
             f'train_dataloader.persistent_workers={workers > 0}']
    args = [sys.executable, 'tools/train.py', config, '--work-dir', str(work_dir)]
    args += ['--resume'] if resume else []
    args += ['--cfg-options', *opts]
    env = dict(PYTHONPATH=osp.join(ROOT, 'tests') + os.pathsep + os.environ.get('PYTHONPATH', ''))
    if not expect_kill:
        return run_tool(args, env=env)
    import subprocess
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1',
                                   **env))
    assert proc.returncode == -9, (proc.returncode, proc.stderr[-3000:])
    return proc


def _final_state(work_dir):
    ckpt = torch.load(osp.join(work_dir, 'iter_6.pth'), map_location='cpu',
                      weights_only=False)
    return ckpt['state_dict']


@pytest.mark.timeout(900)
def test_kill_minus_9_then_resume_is_bit_exact(tmp_path, nc_data, mbv2_ms6):
    """FixMatch through tools/train.py: killed with SIGKILL after iteration 3
    (0 workers) or halfway through writing the iteration-4 checkpoint (2
    workers), then `--resume`: each ends with the uninterrupted run's weights,
    teacher and student, bit for bit. The partial write costs only the
    iterations since the last complete checkpoint (iteration 2), and the
    uninterrupted run has 0 workers: samples' augmentations do not depend on
    the worker that loads them."""
    full = tmp_path / 'full'
    _train(_config(tmp_path, 'plain'), full, nc_data, mbv2_ms6, workers=0)
    reference = _final_state(full)
    assert any(k.startswith('teacher.') for k in reference)

    for name, at, mid_write, workers in (('after3', 3, False, 0), ('write4', 4, True, 2)):
        work = tmp_path / name
        _train(_config(tmp_path, name, at=at, mid_write=mid_write), work, nc_data,
               mbv2_ms6, workers, expect_kill=True)
        if mid_write:
            assert [n for n in os.listdir(work) if n.startswith('iter_4.pth.')
                    and n.endswith('.partial')]
            assert _pointer(work) == str(work / 'iter_2.pth')
        proc = _train(_config(tmp_path, 'plain'), work, nc_data, mbv2_ms6, workers,
                      resume=True)
        log = proc.stdout + proc.stderr
        assert 'resumed' in log.lower() and 'iter_2.pth' in log
        if mid_write:
            assert 'iter_4.pth.' in log and '.partial' in log and 'did not complete' in log
        got = _final_state(work)
        assert got.keys() == reference.keys()
        differ = [k for k in reference if not torch.equal(got[k], reference[k])]
        assert not differ, f'{name}: {len(differ)} tensors differ, e.g. {differ[:3]}'


# ---------------------------------------------- DWL's memories are state
def _dwl_runner(work_dir, nc_data, resume_from=None):
    """DWL's NC Landsat config, shrunk: 6 iterations of 2 + 2 tiles, a
    checkpoint every 3, memories of 3 batches with a 1-iteration warm-up (so
    they roll over and weigh the loss), the classifier merge every 2."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs/dwl/dwl_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py'))
    object.__setattr__(cfg, '_format_python_code', False)
    for part in ('labeled', 'unlabeled'):
        cfg.train_dataloader.dataset[part].data_root = nc_data
    cfg.work_dir = str(work_dir)
    cfg.model.segmentor.backbone.init_cfg = None
    cfg.model.semi_method.weighting.update(memory_batches=3, warmup_iters=1)
    cfg.train_dataloader.batch_size = 4
    cfg.train_dataloader.sampler.update(batch_size=4, num_labeled=2)
    cfg.train_cfg.update(max_iters=6, val_interval=1000)
    cfg.param_scheduler.end = 6
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint.update(interval=3, save_best=None, max_keep_ckpts=-1)
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] != 'ConfigCheckHook']
    for hook in cfg.custom_hooks:
        if hook['type'] == 'ClassifierMergeHook':
            hook['interval'] = 2
    if resume_from:
        cfg.resume, cfg.load_from = True, resume_from
    return Runner.from_cfg(cfg)


def test_dwl_memories_and_merged_classifiers_resume_bit_exactly(tmp_path, nc_data):
    """DWL trained 6 iterations straight, and resumed in a fresh Runner from
    its iteration-3 checkpoint: the same final state bit for bit, DWL's class
    memories (a buffer whose length changes every step) and both models'
    main and pseudo-label classifiers included. (The kill -9 test above
    covers the process side with FixMatch; a DWL copy of it would add
    minutes.)"""
    full = _dwl_runner(tmp_path / 'full', nc_data)
    full.train()
    reference = torch.load(tmp_path / 'full' / 'iter_6.pth', map_location='cpu',
                           weights_only=False)['state_dict']
    counts = reference['method_modules.weighting.memory_counts']
    assert (counts > 0).sum(dim=1).max() == 3  # a class's memory rolled over
    assert reference['method_modules.weighting.memory_values'].numel() == counts.sum()
    assert 'teacher.decode_head.conv_seg.pseudo.weight' in reference

    resumed = _dwl_runner(tmp_path / 'resumed', nc_data,
                          resume_from=str(tmp_path / 'full' / 'iter_3.pth'))
    resumed.train()
    got = torch.load(tmp_path / 'resumed' / 'iter_6.pth', map_location='cpu',
                     weights_only=False)['state_dict']
    assert got.keys() == reference.keys()
    differ = [k for k in reference if not torch.equal(got[k], reference[k])]
    assert not differ, f'{len(differ)} tensors differ, e.g. {differ[:3]}'
