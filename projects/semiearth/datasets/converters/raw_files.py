"""Find raw files in the folders and zip archives users download, and read
them, members of an archive straight from the archive (nothing is extracted,
so a 20 GB download does not need 20 GB more disk).

A member of an archive is named ``<path of the zip>/<member>``, e.g.
``dl/2_Ortho_RGB.zip/2_Ortho_RGB/top_potsdam_2_10_RGB.tif``: error messages
then say where the file came from, and :func:`read_bytes` knows how to open
it.
"""
import os
import os.path as osp
import re
import zipfile
from functools import lru_cache
from typing import Callable, Dict, Iterable, List, Tuple, Union

import cv2
import numpy as np

Match = Union[str, Callable[[str], bool]]


@lru_cache(maxsize=64)
def _members(zip_path: str, mtime: float) -> Tuple[str, ...]:
    with zipfile.ZipFile(zip_path) as z:
        return tuple(i.filename for i in z.infolist() if not i.is_dir())


def _zip_members(zip_path: str) -> Tuple[str, ...]:
    try:
        return _members(zip_path, osp.getmtime(zip_path))
    except (zipfile.BadZipFile, OSError) as e:
        print(f"warning: skipping '{zip_path}', not a readable zip archive ({e}); "
              're-download it if it holds data this converter needs.')
        return ()


def find_raw(src: str, match: Match) -> List[str]:
    """Paths of the raw files under ``src`` (a folder, searched recursively,
    or a zip archive) that ``match`` accepts, members of every ``*.zip``
    found included (as ``<zip>/<member>``).

    ``match`` is a regular expression searched in the path (with ``/``
    separators) or a predicate on it. Files lying in folders come first, then
    archive members, each group sorted, so that ``tiles_by_id`` prefers an
    extracted copy to the archived one.
    """
    if not osp.exists(src):
        raise FileNotFoundError(f"raw data '{src}' does not exist. Fix: pass the "
                                'folder (or zip) of the download.')
    accept = (lambda p: re.search(match, p) is not None) if isinstance(match, str) else match
    files, zips = [], []
    if osp.isfile(src):
        zips.append(src)
    else:
        for root, dirs, names in os.walk(src, followlinks=True):
            dirs.sort()
            for name in names:
                path = osp.join(root, name)
                (zips if name.lower().endswith('.zip') else files).append(path)
    found = sorted(p for p in files if accept(p.replace(os.sep, '/')))
    members = [f'{z}/{m}' for z in sorted(zips) for m in _zip_members(z)]
    return found + sorted(p for p in members if accept(p.replace(os.sep, '/')))


def tiles_by_id(paths: Iterable[str], pattern: str,
                key: Callable[[re.Match, str], str] = None) -> Dict[str, str]:
    """``{id: path}`` of the paths whose file name fully matches ``pattern``
    (the id is group 1, or ``key(match, path)``). A second copy of a file
    (extracted next to its archive, say) is ignored: the first path wins."""
    out, copies = {}, 0
    for p in paths:
        m = re.fullmatch(pattern, p.replace(os.sep, '/').rsplit('/', 1)[-1])
        if m:
            k = key(m, p) if key else m.group(1)
            if k in out:
                copies += 1
            else:
                out[k] = p
    if copies:
        print(f'note: {copies} files matching {pattern!r} were found twice (in '
              'a folder and in its zip, say); using the first of each.')
    return out


def split_zip_path(path: str) -> Tuple[str, str]:
    """``('<zip>', '<member>')`` of an archive member's name, ``(path, '')``
    for a plain file."""
    if osp.isfile(path):
        return path, ''
    start = 0
    while True:
        i = path.lower().find('.zip/', start)
        if i < 0:
            return path, ''
        if osp.isfile(path[:i + 4]):
            return path[:i + 4], path[i + 5:]
        start = i + 1


def read_bytes(path: str) -> bytes:
    """The content of a file or of an archive member (see module doc)."""
    archive, member = split_zip_path(path)
    try:
        if not member:
            with open(path, 'rb') as f:
                return f.read()
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    except (OSError, KeyError, zipfile.BadZipFile) as e:
        raise OSError(f"cannot read '{path}' ({e}). Fix: re-download it.") from e


def read_image(path: str, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """Decode an image file or archive member with OpenCV (BGR for colour,
    as mmseg loads images)."""
    img = cv2.imdecode(np.frombuffer(read_bytes(path), np.uint8), flags)
    if img is None:
        raise OSError(f"cannot decode '{path}' as an image. Fix: re-download it.")
    return img


def read_label(path: str) -> np.ndarray:
    """A label file as stored: ``(H, W)`` index map, or ``(H, W, C)`` with
    the colour channels in RGB order."""
    raw = read_image(path, cv2.IMREAD_UNCHANGED)
    if raw.ndim == 3 and raw.shape[2] in (3, 4):
        raw = raw[..., [2, 1, 0] + ([3] if raw.shape[2] == 4 else [])]
    return raw
