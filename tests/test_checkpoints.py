"""Checkpoints honour their settings (issue 22): max_keep_ckpts on MMEngine's
real keep_ckpt_ids, a best checkpoint that a kill cannot truncate and that a
resume checks, a full disk named, a legacy checkpoint resumed (not called
damaged), a resume that finds nothing complete stops, and a run resumed after
its last iteration still validates. Unit level: the hook and the loop are
driven directly (tests/test_crash_safety.py kills a real tools/train.py)."""
import errno
import os
import os.path as osp

import pytest
import torch
from mmengine.logging import MessageHub, MMLogger

from semiearth.engine import SafeCheckpointHook
from semiearth.engine.hooks.safe_checkpoint_hook import (CheckpointResumeError,
                                                         checkpoint_problem,
                                                         repair_last_checkpoint)
from semiearth.utils import DiskFullError


def _ckpt(path, value=1.0, **kwargs):
    torch.save({'state_dict': {'w': torch.full((256,), value)}, 'meta': {}}, str(path),
               **kwargs)
    return str(path)


def _truncate(path):
    with open(path, 'r+b') as f:
        f.truncate(osp.getsize(path) // 2)


class _Runner:
    """What SafeCheckpointHook uses of a runner. ``fail`` names a file whose
    write stops halfway with ``error`` (a kill, a full disk)."""

    def __init__(self, work_dir, fail=None, error=KeyboardInterrupt('killed while writing'),
                 resume=False):
        self.work_dir = str(work_dir)
        self.message_hub = MessageHub.get_instance(f'ckpt-{work_dir}')
        self.logger = MMLogger.get_current_instance()
        self.fail, self.error = fail, error
        self.epoch, self.iter = 0, 0
        self._resume, self._load_from = resume, None

    def save_checkpoint(self, out_dir, filename, *args, **kwargs):
        path = osp.join(out_dir, filename)
        _ckpt(path, value=float(self.iter))
        if self.fail and filename.startswith(self.fail):
            _truncate(path)
            raise self.error


def _hook(runner, **kwargs):
    """A SafeCheckpointHook after MMEngine's own before_train: its
    keep_ckpt_ids is MMEngine's deque(maxlen=max_keep_ckpts)."""
    hook = SafeCheckpointHook(interval=2, by_epoch=False, **kwargs)
    hook.before_train(runner)
    return hook


def _save(hook, runner, step, metrics=None):
    """What the loop does at ``step``: the step's checkpoint, then (with
    metrics) the validation's best-checkpoint rule."""
    runner.iter = step
    hook._save_checkpoint_with_step(runner, step, dict(iter=step))
    if metrics is not None:
        hook._save_best_checkpoint(runner, metrics)


def test_max_keep_ckpts_1_leaves_one_checkpoint(tmp_path):
    """MMEngine's keep_ckpt_ids is a deque with maxlen: appending drops the
    oldest id silently, and a prune that looks for ids beyond the limit
    found none (every checkpoint was kept)."""
    runner = _Runner(tmp_path)
    hook = _hook(runner, max_keep_ckpts=1)
    assert hook.keep_ckpt_ids.maxlen == 1
    for step in (2, 4, 6):
        _save(hook, runner, step)
    assert sorted(os.listdir(tmp_path)) == ['iter_6.pth', 'last_checkpoint']
    assert runner.message_hub.get_info('keep_ckpt_ids') == [6]
    # max_keep_ckpts=2, resumed with the ids of the checkpoint (MMEngine's before_train)
    runner2 = _Runner(tmp_path / 'two')
    os.makedirs(runner2.work_dir)
    hook = _hook(runner2, max_keep_ckpts=2)
    for step in (2, 4, 6, 8):
        _save(hook, runner2, step)
    assert sorted(os.listdir(runner2.work_dir)) == ['iter_6.pth', 'iter_8.pth',
                                                    'last_checkpoint']


def test_a_kill_during_the_best_save_leaves_the_previous_best(tmp_path):
    runner = _Runner(tmp_path, fail='best_mIoU_iter_4.pth')
    hook = _hook(runner, max_keep_ckpts=1, save_best='mIoU', rule='greater')
    _save(hook, runner, 2, {'mIoU': 0.5})
    best2 = str(tmp_path / 'best_mIoU_iter_2.pth')
    assert runner.message_hub.get_info('best_ckpt') == best2
    with pytest.raises(KeyboardInterrupt):
        _save(hook, runner, 4, {'mIoU': 0.7})
    # the old best is removed only once the new one is complete
    assert checkpoint_problem(best2) is None
    assert sorted(os.listdir(tmp_path)) == ['best_mIoU_iter_2.pth', 'iter_4.pth',
                                            'last_checkpoint']
    # a completed best replaces it
    runner.fail = None
    _save(hook, runner, 6, {'mIoU': 0.8})
    assert sorted(os.listdir(tmp_path)) == ['best_mIoU_iter_6.pth', 'iter_6.pth',
                                            'last_checkpoint']
    assert torch.load(str(tmp_path / 'best_mIoU_iter_6.pth'))['state_dict']['w'][0] == 6


def test_a_broken_best_is_replaced_on_resume_by_a_named_fallback(tmp_path):
    """A best written in place by an older version and cut short by a kill:
    the resumed run names the newest complete best, or, with none, lets the
    next validation write one."""
    _ckpt(tmp_path / 'best_mIoU_iter_2.pth')
    broken = _ckpt(tmp_path / 'best_mIoU_iter_4.pth')
    _truncate(broken)
    runner = _Runner(tmp_path)
    runner.message_hub.update_info('best_ckpt', broken)
    runner.message_hub.update_info('best_score', 0.7)
    hook = _hook(runner, save_best='mIoU', rule='greater')
    assert hook.best_ckpt_path == str(tmp_path / 'best_mIoU_iter_2.pth')
    assert runner.message_hub.get_info('best_ckpt') == hook.best_ckpt_path
    assert runner.message_hub.get_info('best_score') is None  # the next val writes a best
    os.remove(tmp_path / 'best_mIoU_iter_2.pth')
    runner.message_hub.update_info('best_ckpt', broken)
    hook = _hook(runner, save_best='mIoU', rule='greater')
    assert hook.best_ckpt_path is None
    _save(hook, runner, 6, {'mIoU': 0.1})
    assert checkpoint_problem(str(tmp_path / 'best_mIoU_iter_6.pth')) is None


def test_disk_full_names_the_path_and_the_space_and_removes_the_partial(tmp_path):
    runner = _Runner(tmp_path, fail='iter_4.pth',
                     error=OSError(errno.ENOSPC, 'No space left on device'))
    hook = _hook(runner, max_keep_ckpts=1)
    _save(hook, runner, 2)
    size = osp.getsize(tmp_path / 'iter_2.pth') / 2**20
    with pytest.raises(DiskFullError) as err:
        _save(hook, runner, 4)
    text = str(err.value)
    assert str(tmp_path / 'iter_4.pth') in text and 'partial file was removed' in text
    assert f'needs about {size:.1f} MB (the size of {tmp_path / "iter_2.pth"})' in text
    assert sorted(os.listdir(tmp_path)) == ['iter_2.pth', 'last_checkpoint']


def test_a_legacy_checkpoint_is_resumed_not_called_damaged(tmp_path):
    """torch.save(..., _use_new_zipfile_serialization=False) writes no zip:
    it used to be 'damaged', and --resume restarted at iteration 0."""
    legacy = _ckpt(tmp_path / 'iter_4.pth', _use_new_zipfile_serialization=False)
    assert checkpoint_problem(legacy) is None
    (tmp_path / 'last_checkpoint').write_text(legacy)
    assert repair_last_checkpoint(str(tmp_path), stop=True) == []
    from mmengine.runner.checkpoint import _load_checkpoint  # the resume's loader
    assert _load_checkpoint(legacy, map_location='cpu')['state_dict']['w'].shape == (256,)


def test_a_resume_with_nothing_complete_stops_the_run(tmp_path):
    _truncate(_ckpt(tmp_path / 'iter_4.pth'))
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_4.pth'))
    runner = _Runner(tmp_path, resume=True)
    with pytest.raises(CheckpointResumeError, match='start_over=True'):
        SafeCheckpointHook(interval=2, by_epoch=False).before_run(runner)
    assert (tmp_path / 'last_checkpoint').exists()
    SafeCheckpointHook(interval=2, by_epoch=False, start_over=True).before_run(runner)
    assert not (tmp_path / 'last_checkpoint').exists()


# ------------------------------------------------- the owed final validation
class _Val:
    def __init__(self, calls):
        self.calls = calls

    def run(self):
        self.calls.append('val')


class _LoopRunner:
    def __init__(self):
        self.calls = []
        self.val_loop = _Val(self.calls)
        self.model = torch.nn.Linear(1, 1)

    def call_hook(self, name, **kwargs):
        self.calls.append(name)


def _loop(runner, max_iters):
    from semiearth.engine.runner import SkipAheadIterBasedTrainLoop
    loader = torch.utils.data.DataLoader(list(range(8)), batch_size=1)
    return SkipAheadIterBasedTrainLoop(runner, loader, max_iters=max_iters, val_interval=2)


def test_a_run_resumed_after_its_last_iteration_runs_its_final_validation():
    """Killed after the last checkpoint, before the final validation: the
    resumed loop used to end at once, never validating."""
    runner = _LoopRunner()
    loop = _loop(runner, max_iters=4)
    loop._iter = 4  # as load_or_resume leaves it
    loop.run_iter = lambda batch: pytest.fail('no iteration is left to train')
    loop.run()
    assert runner.calls == ['before_train', 'before_train_epoch', 'val',
                            'after_train_epoch', 'after_train']
    # without a val loop nothing is owed: MMEngine's loop
    runner = _LoopRunner()
    runner.val_loop = None
    loop = _loop(runner, max_iters=4)
    loop._iter = 4
    loop.run()
    assert 'val' not in runner.calls and runner.calls[-1] == 'after_train'


# --------------------------------------------------------- refusal messages
class _Payload:
    """A pickled object outside every allowlist (it never runs here)."""


def test_refusals_say_unsafe_content(tmp_path):
    """Refused for its content, a file is not called corrupt (the VLM loader
    used to say 'corrupt ... download it again')."""
    from mmengine.runner.checkpoint import _load_checkpoint
    from semiearth.compat import UnsafeCheckpointError
    from semiearth.vlm.open_clip_loader import UnsafeVLMCheckpointError, load_local_weights
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(1)}, 'x': _Payload()}, str(path))
    with pytest.raises(UnsafeCheckpointError, match=r"evil\.pth' refused: unsafe content"):
        _load_checkpoint(str(path), map_location='cpu')
    with pytest.raises(UnsafeVLMCheckpointError,
                       match=r"evil\.pth' refused: unsafe content") as err:
        load_local_weights(None, 'ViT-B-16', str(path))
    assert 'corrupt' not in str(err.value) and 'download' not in str(err.value)


# ------------------------------------------------ through MMEngine's Runner
class _StopBeforeValidation(Exception):
    pass


def test_a_real_run_killed_before_its_final_validation_validates_on_resume(
        tmp_path, nc_data, mbv2_ms6, monkeypatch):
    """The supervised NC Landsat config, 2 iterations, in process: stopped
    after the last checkpoint, before the final validation; resumed, it
    validates and writes its best checkpoint (atomically), keeping one
    iteration checkpoint. NonFiniteLossHook and the key check ride along."""
    from mmengine.config import Config, DictAction
    from mmengine.hooks import Hook
    from mmengine.runner import Runner
    from mmseg.registry import HOOKS

    from conftest import ROOT, data_options

    # the runner logs and dumps its config formatted by yapf: most of this
    # test's time on 2 cores, and nothing it tests
    monkeypatch.setattr(Config, 'pretty_text', property(lambda cfg: repr(cfg.to_dict())))

    @HOOKS.register_module(force=True)
    class StopBeforeValidationHook(Hook):
        def before_val(self, runner):
            raise _StopBeforeValidation

    cfg = Config.fromfile(osp.join(
        ROOT, 'configs/supervised/supervised_deeplabv3plus-mbv2_1xb8-300i_nclandsat-1of8-'
        '128x128.py'))
    cfg.merge_from_dict(dict(
        train_cfg=dict(type='SkipAheadIterBasedTrainLoop', max_iters=2, val_interval=2),
        param_scheduler=dict(end=2), work_dir=str(tmp_path),
        default_hooks=dict(checkpoint=dict(interval=1, max_keep_ckpts=1),
                           logger=dict(interval=1))))
    cfg.merge_from_dict({key: DictAction._parse_iterable(value) for key, value in
                         (arg.split('=', 1) for arg in data_options(nc_data, mbv2_ms6))})
    cfg.val_dataloader.dataset.indices = 4  # a validation, not a measurement
    cfg.custom_hooks = [dict(h, check_data=False) if h['type'] == 'ConfigCheckHook' else h
                        for h in cfg.custom_hooks] + [dict(type='NonFiniteLossHook')]
    first = cfg.copy()
    first.custom_hooks = first.custom_hooks + [dict(type='StopBeforeValidationHook')]
    with pytest.raises(_StopBeforeValidation):
        Runner.from_cfg(first).train()
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth')) == ['iter_2.pth']
    cfg.resume = True
    Runner.from_cfg(cfg).train()
    names = sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth') or 'partial' in n)
    assert names == ['best_mIoU_iter_2.pth', 'iter_2.pth']
    assert checkpoint_problem(str(tmp_path / 'best_mIoU_iter_2.pth')) is None
