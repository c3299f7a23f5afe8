"""Atomic file writes: a reader sees the old file or the whole new one, never a
part. Every writer of the package goes through :func:`atomic_write`, so there
is one naming scheme for leftovers (``<path>.<pid>.<random>.partial``) and one
place that cleans them."""
import contextlib
import errno
import os
import os.path as osp
import shutil
import uuid
from typing import IO, Callable, Iterator, List

PARTIAL_SUFFIX = '.partial'


def partial_path(path: str) -> str:
    """A private temporary name beside ``path``: concurrent writers (ranks,
    workers) of the same file never share one."""
    return f'{path}.{os.getpid()}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}'


def is_partial(path: str) -> bool:
    """Whether ``path`` is a leftover of an interrupted :func:`atomic_write`."""
    return path.endswith(PARTIAL_SUFFIX)


class DiskFullError(OSError):
    """No space left while writing ``path`` (the partial file was removed)."""


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'wb', fsync: bool = True) -> Iterator[IO]:
    """Open a private temporary file for writing; on a clean exit flush it
    (and ``fsync`` it) and rename it to ``path``. On any error the temporary
    file is removed and ``path`` is untouched; a full disk is reported as
    :class:`DiskFullError` naming ``path`` and the free space."""
    tmp = partial_path(path)
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if e.errno != errno.ENOSPC or isinstance(e, DiskFullError):
            raise
        written = osp.getsize(tmp) if osp.exists(tmp) else 0
        free = shutil.disk_usage(osp.dirname(osp.abspath(path))).free
        raise DiskFullError(
            errno.ENOSPC,
            f'no space left on the device writing {path}: {written / 2**20:.1f} MB were '
            f'written before the disk filled, {free / 2**20:.1f} MB are free now. The '
            'partial file was removed. Fix: free space there (or write elsewhere) and '
            'run again.') from e
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`atomic_write`)."""
    with atomic_write(path, 'w') as f:
        f.write(text)


def atomic_save(path: str, save: Callable[[IO], None]) -> None:
    """``save(file)`` into ``path`` atomically (:func:`atomic_write`), e.g.
    ``atomic_save(p, lambda f: torch.save(obj, f))``."""
    with atomic_write(path, 'wb') as f:
        save(f)


def remove_partials(directory: str) -> List[str]:
    """Remove the leftovers of interrupted writes directly in ``directory``;
    returns their paths."""
    if not osp.isdir(directory):
        return []
    removed = []
    for name in sorted(os.listdir(directory)):
        path = osp.join(directory, name)
        if is_partial(name) and osp.isfile(path):
            os.remove(path)
            removed.append(path)
    return removed
