"""Content digests of weight files, computed once per file version.

The evidence cache is keyed on the VLM's weights by content: a checkpoint
replaced by another with the same name and size (new weights) must not reuse
stale evidence. Hashing a CLIP file takes a second or two, so each digest is
remembered by (path, size, modification time) in
``$SEMIEARTH_CACHE_HOME/file_digests.json`` (default ``~/.cache/semiearth``).
"""
import hashlib
import json
import os
import os.path as osp
from typing import Optional

from ..utils.atomic import atomic_write_text

CACHE_ENV = 'SEMIEARTH_CACHE_HOME'


def _store() -> str:
    root = os.environ.get(CACHE_ENV) or osp.join(
        os.environ.get('XDG_CACHE_HOME') or osp.expanduser('~/.cache'), 'semiearth')
    return osp.join(root, 'file_digests.json')


def file_digest(path: str, chunk: int = 1 << 22) -> Optional[str]:
    """SHA-256 of the file's content (None if it does not exist)."""
    if not osp.isfile(path):
        return None
    st = os.stat(path)
    key = f'{osp.abspath(path)}|{st.st_size}|{st.st_mtime_ns}'
    store = _store()
    try:
        with open(store) as f:
            known = json.load(f)
    except (OSError, ValueError):
        known = {}
    if key in known:
        return known[key]
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            h.update(block)
    digest = h.hexdigest()
    known[key] = digest
    try:
        os.makedirs(osp.dirname(store), exist_ok=True)
        atomic_write_text(store, json.dumps(known))
    except OSError:
        pass  # a read-only home: the digest is simply computed again next time
    return digest
