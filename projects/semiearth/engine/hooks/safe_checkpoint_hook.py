"""Crash-safe checkpoints: a kill never costs more than the iterations since
the last complete checkpoint."""
import os
import os.path as osp
import re
import zipfile
from typing import List, Optional, Tuple

from mmengine.dist import barrier, is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

PARTIAL_SUFFIX = '.partial'


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete checkpoint, or None if it is one.

    A checkpoint written by ``torch.save`` is a zip archive; a file cut short
    by a kill has no central directory, and a damaged one fails a member's
    CRC. Reading the archive's index and CRCs is enough, nothing is
    unpickled."""
    if not osp.isfile(path):
        return 'missing'
    if osp.getsize(path) == 0:
        return 'empty'
    try:
        with zipfile.ZipFile(path) as archive:
            if not any(n.endswith('data.pkl') for n in archive.namelist()):
                return 'not a torch checkpoint (no data.pkl)'
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        return f'incomplete or damaged ({type(e).__name__}: {e})'
    return f'damaged member {bad}' if bad else None


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old or the new
    content, never a part."""
    tmp = path + PARTIAL_SUFFIX
    with open(tmp, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """MMEngine's ``CheckpointHook`` with atomic saves and a resume that
    survives a broken newest checkpoint.

    Saving (local disks): the checkpoint is written to
    ``.<name>.partial``, flushed to disk and renamed to ``<name>``; only then
    are checkpoints beyond ``max_keep_ckpts`` removed and ``last_checkpoint``
    rewritten (atomically). A kill at any moment leaves the previous complete
    checkpoint and a ``last_checkpoint`` that names a complete file. (MMEngine
    removes the oldest checkpoint first and writes in place: a kill during the
    write can leave nothing to resume from.)

    Before the run (``before_run``, ahead of MMEngine's resume): if
    ``last_checkpoint`` names a missing, partial or unreadable file, it is
    pointed at the newest complete checkpoint in the work dir, and each
    skipped file is logged with the reason; leftover ``.partial`` files (a
    kill during a write) are reported and removed. With no complete
    checkpoint left, ``last_checkpoint`` is removed and the run says so,
    rather than resuming silently from nothing.

    Other storage backends keep MMEngine's behaviour. Arguments: as
    ``CheckpointHook``.
    """

    # ----------------------------------------------------------- saving
    def _save_checkpoint_with_step(self, runner, step, meta):
        if not isinstance(self.file_backend, LocalBackend):
            return super()._save_checkpoint_with_step(runner, step, meta)
        name = self.filename_tmpl.format(step)
        final = osp.join(self.out_dir, name)
        tmp_name = f'.{name}{PARTIAL_SUFFIX}'
        runner.save_checkpoint(
            self.out_dir, tmp_name, self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta,
            by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        self.last_ckpt = final
        runner.message_hub.update_info('last_ckpt', final)
        if is_main_process():
            tmp = osp.join(self.out_dir, tmp_name)
            _fsync(tmp)
            os.replace(tmp, final)
        self._prune(runner, step)
        if is_main_process():
            atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), final)

    def _prune(self, runner, step: int) -> None:
        """Keep the newest ``max_keep_ckpts``, removing older ones only now
        that the new one is complete."""
        if self.max_keep_ckpts <= 0:
            return
        if not self.keep_ckpt_ids or self.keep_ckpt_ids[-1] != step:
            self.keep_ckpt_ids.append(step)
        while len(self.keep_ckpt_ids) > self.max_keep_ckpts:
            old = self.keep_ckpt_ids.popleft()
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if is_main_process() and osp.isfile(path):
                os.remove(path)
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

    # ----------------------------------------------------------- resuming
    def before_run(self, runner) -> None:
        super().before_run(runner)
        if is_main_process():
            for line in repair_last_checkpoint(runner.work_dir, self.filename_tmpl):
                runner.logger.warning(line)
        barrier()


def _numbered(work_dir: str, filename_tmpl: str) -> List[Tuple[int, str]]:
    """``(step, path)`` of the checkpoints named by ``filename_tmpl``, newest first."""
    pattern = re.compile('^' + re.escape(filename_tmpl).replace(r'\{\}', r'(\d+)') + '$')
    found = []
    for name in os.listdir(work_dir):
        m = pattern.match(name)
        if m:
            found.append((int(m.group(1)), osp.join(work_dir, name)))
    return sorted(found, reverse=True)


def repair_last_checkpoint(work_dir: str, filename_tmpl: str = 'iter_{}.pth') -> List[str]:
    """Make ``work_dir/last_checkpoint`` name a complete checkpoint (or
    remove it when there is none); return what was found, one message a
    line. Nothing to say when ``last_checkpoint`` is sound."""
    if not osp.isdir(work_dir):
        return []
    notes = []
    for name in sorted(os.listdir(work_dir)):
        if name.endswith(PARTIAL_SUFFIX):
            notes.append(f'removed {osp.join(work_dir, name)}: a checkpoint write that did not '
                         'complete (the process was stopped while saving)')
            os.remove(osp.join(work_dir, name))
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        if notes:
            notes.append('no complete checkpoint to resume from: training starts from the '
                         'beginning')
        return notes
    with open(pointer) as f:
        named = f.read().strip()
    problem = checkpoint_problem(named)
    if problem is None:
        return notes
    notes.append(f'last_checkpoint names {named}, which is {problem}; skipped')
    folder = osp.dirname(named) if osp.isdir(osp.dirname(named)) else work_dir
    for _, path in _numbered(folder, filename_tmpl):
        if path == named:
            continue
        problem = checkpoint_problem(path)
        if problem is None:
            atomic_write_text(pointer, path)
            notes.append(f'resuming from {path}, the newest complete checkpoint')
            return notes
        notes.append(f'skipped {path}: {problem}')
    os.remove(pointer)
    notes.append('no complete checkpoint to resume from: training starts from the beginning')
    return notes
