"""Crash-safe checkpoints: a kill never costs more than the iterations since
the last complete checkpoint, and a resume never silently starts over."""
import errno
import os
import os.path as osp
import re
import zipfile
from collections import deque
from typing import List, Optional, Tuple

from mmengine.dist import broadcast_object_list, is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

from ...utils import DiskFullError, atomic_write, atomic_write_text, remove_partials

# torch.save's format before torch 1.6 (``_use_new_zipfile_serialization=
# False``): a pickle whose first object is this magic number
_LEGACY_MAGIC = (0x1950a86a20f9469cfc6c).to_bytes(10, 'little')


class CheckpointResumeError(RuntimeError):
    """``--resume`` found checkpoints, but none it can resume from."""


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete checkpoint, or None if it is one.

    A checkpoint written by ``torch.save`` is a zip archive; a file cut short
    by a kill has no central directory, and a damaged one fails a member's
    CRC. Reading the archive's index and CRCs is enough, nothing is
    unpickled. A legacy (pre-zip) torch file has neither index nor CRCs: it
    is taken as complete (its load says otherwise if it is not)."""
    if not osp.isfile(path):
        return 'missing'
    if osp.getsize(path) == 0:
        return 'empty'
    if not zipfile.is_zipfile(path):
        with open(path, 'rb') as f:
            head = f.read(32)
        if head.startswith(b'\x80') and _LEGACY_MAGIC in head:
            return None
    try:
        with zipfile.ZipFile(path) as archive:
            if not any(n.endswith('data.pkl') for n in archive.namelist()):
                return 'not a torch checkpoint (no data.pkl)'
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        return f'incomplete or damaged ({type(e).__name__}: {e})'
    return f'damaged member {bad}' if bad else None


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """MMEngine's ``CheckpointHook`` with atomic saves, ``max_keep_ckpts``
    honoured, and a resume that survives a broken newest checkpoint.

    Saving (local disks): every checkpoint, the best one included, is written
    by :func:`semiearth.utils.atomic_write` (a private ``<name>.<pid>.<rand>
    .partial``, fsync, rename); only then are checkpoints beyond
    ``max_keep_ckpts`` (or the previous best) removed and ``last_checkpoint``
    rewritten (atomically). A kill at any moment leaves the previous complete
    checkpoint, the previous best, and a ``last_checkpoint`` that names a
    complete file. (MMEngine removes the old file first and writes in place.)
    A full disk raises :class:`~semiearth.utils.DiskFullError` naming the
    file and the space needed; the partial file is removed.

    Before the run (``before_run``, ahead of MMEngine's resume): leftover
    ``.partial`` files are reported and removed; if ``last_checkpoint`` names
    a missing, partial or unreadable file, it is pointed at the newest
    complete checkpoint, each skipped file logged with the reason. When
    resuming finds checkpoints but none complete, the run stops
    (:class:`CheckpointResumeError`) unless ``start_over=True``: progress is
    never silently lost. After the resume (``before_train``) the recorded
    best checkpoint is checked; a broken one is replaced by the newest
    complete ``best_*`` file (named in the log) or, with none, by the next
    validation's.

    Args:
        start_over: when resuming finds no complete checkpoint, start at
            iteration 0 instead of stopping (default False).
        **kwargs: as ``CheckpointHook``.
    """

    def __init__(self, *args, start_over: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.start_over = start_over

    def _local(self) -> bool:
        return isinstance(getattr(self, 'file_backend', None), LocalBackend)

    # ----------------------------------------------------------- saving
    def _write(self, runner, name: str, **save_kwargs) -> str:
        """``runner.save_checkpoint`` into ``out_dir/name``, atomically."""
        final = osp.join(self.out_dir, name)
        kwargs = dict(file_client_args=self.file_client_args, backend_args=self.backend_args,
                      **save_kwargs)
        if not is_main_process():  # Runner.save_checkpoint is master_only
            runner.save_checkpoint(self.out_dir, name, **kwargs)
            return final
        try:
            # the runner writes by name: atomic_write owns the private name,
            # the fsync (same file), the rename and the cleanup
            with atomic_write(final) as handle:
                runner.save_checkpoint(self.out_dir, osp.basename(handle.name), **kwargs)
        except DiskFullError as e:
            raise DiskFullError(errno.ENOSPC, f'{e.strerror} {self._space_needed()}') from e
        return final

    def _space_needed(self) -> str:
        last = getattr(self, 'last_ckpt', None)
        if last and osp.isfile(last):
            return (f'A checkpoint needs about {osp.getsize(last) / 2**20:.1f} MB (the size '
                    f'of {last}).')
        return 'A checkpoint needs at least what was written.'

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not self._local():
            return super()._save_checkpoint_with_step(runner, step, meta)
        final = self._write(
            runner, self.filename_tmpl.format(step), save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta,
            by_epoch=self.by_epoch, **self.args)
        self.last_ckpt = final
        runner.message_hub.update_info('last_ckpt', final)
        self._prune(runner, step)
        if is_main_process():
            atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), final)

    def _prune(self, runner, step: int) -> None:
        """Keep the newest ``max_keep_ckpts``, removing older ones only now
        that the new one is complete. (MMEngine keeps the ids in a
        ``deque(maxlen=max_keep_ckpts)``: appending silently drops the oldest
        id, so the list is pruned as a list.)"""
        if self.max_keep_ckpts <= 0:
            return
        ids = list(getattr(self, 'keep_ckpt_ids', []))
        if not ids or ids[-1] != step:
            ids.append(step)
        for old in ids[:-self.max_keep_ckpts]:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if is_main_process() and osp.isfile(path):
                os.remove(path)
        kept = ids[-self.max_keep_ckpts:]
        self.keep_ckpt_ids = deque(kept, maxlen=self.max_keep_ckpts)
        runner.message_hub.update_info('keep_ckpt_ids', kept)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """MMEngine's rule, but the new best is written (atomically) before
        the previous best is removed."""
        if not self.save_best or not self._local():
            return super()._save_best_checkpoint(runner, metrics)
        step = runner.epoch if self.by_epoch else runner.iter
        meta = dict(epoch=runner.epoch, iter=runner.iter)
        if 'auto' in self.key_indicators:
            self._init_rule(self.rules, [list(metrics.keys())[0]])
        updated = False
        for key, rule in zip(self.key_indicators, self.rules):
            score_key, path_key = _best_keys(self.key_indicators, key)
            best = runner.message_hub.get_info(score_key, self.init_value_map[rule])
            score = metrics[key]
            if score is None or not self.is_better_than[key](score, best):
                continue
            updated = True
            old = self._best_path(key)
            name = f'best_{key}_{self.filename_tmpl.format(step)}'.replace('/', '_')
            # recorded first, so that the best checkpoint's own message hub has it
            runner.message_hub.update_info(score_key, score)
            runner.message_hub.update_info(path_key, osp.join(self.out_dir, name))
            new = self._write(runner, name, save_optimizer=False, save_param_scheduler=False,
                              meta=meta, by_epoch=False)
            self._set_best_path(key, new)
            if old and old != new and is_main_process() and osp.isfile(old):
                os.remove(old)
            runner.logger.info(f'The best checkpoint with {score:0.4f} {key} at {step} '
                               f'{"epoch" if self.by_epoch else "iter"} is saved to {name}.')
        # the step's checkpoint again, so that it records the new best (as MMEngine)
        if updated and self.last_ckpt is not None:
            self._save_checkpoint_with_step(runner, step, meta)

    def _best_path(self, key: str) -> Optional[str]:
        if len(self.key_indicators) == 1:
            return self.best_ckpt_path
        return self.best_ckpt_path_dict.get(key)

    def _set_best_path(self, key: str, path: Optional[str]) -> None:
        if len(self.key_indicators) == 1:
            self.best_ckpt_path = path
        else:
            self.best_ckpt_path_dict[key] = path

    # ----------------------------------------------------------- resuming
    def before_run(self, runner) -> None:
        super().before_run(runner)
        resuming = bool(getattr(runner, '_resume', False)) and \
            getattr(runner, '_load_from', None) is None
        error = [None]
        if is_main_process():
            try:
                for line in repair_last_checkpoint(
                        runner.work_dir, self.filename_tmpl,
                        stop=resuming and not self.start_over):
                    runner.logger.warning(line)
            except CheckpointResumeError as e:
                error = [str(e)]
        broadcast_object_list(error, src=0)  # every rank stops, none waits for the others
        if error[0] is not None:
            raise CheckpointResumeError(error[0])

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self.save_best and self._local():
            for key in self.key_indicators:
                self._check_best(runner, key)

    def _check_best(self, runner, key: str) -> None:
        """After a resume: the recorded best checkpoint must be complete."""
        recorded = self._best_path(key)
        if not recorded or checkpoint_problem(recorded) is None:
            return
        score_key, path_key = _best_keys(self.key_indicators, key)
        prefix = f"best_{key.replace('/', '_')}_"
        fallback = next((p for _, p in _numbered(self.out_dir, prefix + self.filename_tmpl)
                         if p != recorded and checkpoint_problem(p) is None), None)
        self._set_best_path(key, fallback)
        runner.message_hub.update_info(path_key, fallback)
        # its score is unknown: the next validation writes a best again
        runner.message_hub.runtime_info.pop(score_key, None)
        runner.logger.warning(
            f'the best checkpoint {recorded} is {checkpoint_problem(recorded)}; '
            + (f'the best checkpoint is now {fallback}, the newest complete one'
               if fallback else 'no complete best checkpoint is left')
            + '; the next validation writes a new best.')


def _best_keys(key_indicators, key: str) -> Tuple[str, str]:
    """Message-hub keys of the best score and path of ``key`` (MMEngine's)."""
    if len(key_indicators) == 1:
        return 'best_score', 'best_ckpt'
    return f'best_score_{key}', f'best_ckpt_{key}'


def _numbered(work_dir: str, filename_tmpl: str) -> List[Tuple[int, str]]:
    """``(step, path)`` of the checkpoints named by ``filename_tmpl``, newest first."""
    pattern = re.compile('^' + re.escape(filename_tmpl).replace(r'\{\}', r'(\d+)') + '$')
    found = []
    for name in os.listdir(work_dir) if osp.isdir(work_dir) else []:
        m = pattern.match(name)
        if m:
            found.append((int(m.group(1)), osp.join(work_dir, name)))
    return sorted(found, reverse=True)


def repair_last_checkpoint(work_dir: str, filename_tmpl: str = 'iter_{}.pth',
                           stop: bool = False) -> List[str]:
    """Make ``work_dir/last_checkpoint`` name a complete checkpoint; return
    what was found, one message a line (nothing when it is sound).

    When it names a broken file and no complete checkpoint is left: with
    ``stop``, raise :class:`CheckpointResumeError` (resuming would lose the
    progress), else remove ``last_checkpoint`` so that training starts over,
    and say so."""
    notes = [f'removed {path}: a write that did not complete (the process was stopped '
             'while saving)' for path in remove_partials(work_dir)]
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        if notes:  # killed during the first save: there was nothing to lose
            notes.append('no checkpoint was completed: training starts from the beginning')
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
    if stop:
        found = '\n  '.join(notes)
        raise CheckpointResumeError(
            f'cannot resume in {work_dir}: no complete checkpoint is left.\n  {found}\n'
            'Training did not start over, which would lose the progress. Fix: restore a '
            'checkpoint (and point last_checkpoint at it), or, to start from iteration 0, '
            'run with --cfg-options default_hooks.checkpoint.start_over=True (or without '
            '--resume).')
    os.remove(pointer)
    notes.append('no complete checkpoint to resume from: training starts from the beginning')
    return notes
