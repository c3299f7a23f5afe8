"""Cached dense VLM evidence: one float16 map per image.

Layout of a cache directory::

    meta.json          format, VLM settings fingerprint, classes, downsample
                       (and, written by ``tools/precompute_vlm.py``, every
                       precomputed image's name and size)
    <image name>.npy   (C, ceil(H / f), ceil(W / f)) float16 probabilities
    calibration.json   the VLM's confusion on the labeled images

Invariant: every ``.npy`` in a directory whose ``meta.json`` matches the
config was computed with those settings. Maps are only written after
``meta.json`` is checked (:func:`prepare_cache`), each one atomically (a
private temporary file renamed into place, :func:`write_map`), so several
ranks and workers may fill the same cache at once, and a killed writer
leaves a ``.partial`` file that no reader opens, never half a map.

Training reads a map by the weak view's image name and samples it at the
view's source coordinates (:class:`AddSourceCoords`), so the cached map goes
through exactly the view's resize, crop and flip. Maps are memory-mapped and
only the view's bounding box is read and widened to float32: the resident
memory of a rank does not grow with the number of maps, and the pages are
the operating system's file cache, shared by every rank and worker.
"""
import glob
import json
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor

from ..utils import atomic_save, atomic_write_text, is_partial

CACHE_FORMAT = 2
CALIBRATION_FILE = 'calibration.json'
# a .partial file untouched this long belongs to a writer that was stopped
LEFTOVER_AGE_S = 60.0
FIX = ('re-run `python tools/precompute_vlm.py CONFIG` for this config (or train with '
       "model.purifier.evidence='auto', which computes what is missing)")


def cache_key(img_path: str) -> str:
    """Maps are named by the image's file name (unique within a dataset)."""
    return osp.splitext(osp.basename(img_path))[0]


def downsample_evidence(probs: Tensor, factor: int) -> Tensor:
    """(C, H, W) -> (C, ceil(H/f), ceil(W/f)) by averaging f x f blocks."""
    if factor == 1:
        return probs
    return F.avg_pool2d(probs[None], factor, ceil_mode=True, count_include_pad=False)[0]


def write_map(cache_dir: str, img_path: str, probs: Tensor, factor: int) -> np.ndarray:
    """Store the (C, H, W) probabilities of one whole image, downsampled by
    ``factor``, as float16; returns what was stored."""
    arr = downsample_evidence(probs.detach().float().cpu(), factor).numpy().astype(np.float16)
    atomic_save(osp.join(cache_dir, cache_key(img_path) + '.npy'), lambda f: np.save(f, arr))
    return arr


def _settings(fingerprint: str, class_keys: Sequence[str], downsample: int) -> dict:
    return dict(format=CACHE_FORMAT, fingerprint=fingerprint, classes=list(class_keys),
                downsample=int(downsample))


def _read_meta(cache_dir: str) -> Optional[dict]:
    meta_file = osp.join(cache_dir, 'meta.json')
    if not osp.isfile(meta_file):
        return None
    with open(meta_file) as f:
        return json.load(f)


def _same_settings(meta: Optional[dict], settings: dict) -> bool:
    return meta is not None and all(meta.get(k) == v for k, v in settings.items())


def write_meta(cache_dir: str, fingerprint: str, class_keys: Sequence[str],
               downsample: int, images: Optional[Dict[str, Tuple[int, int]]] = None) -> None:
    """``meta.json``: the settings and, when given, the images and sizes."""
    meta = _settings(fingerprint, class_keys, downsample)
    if images is not None:
        meta['images'] = {k: list(v) for k, v in images.items()}
    atomic_write_text(osp.join(cache_dir, 'meta.json'), json.dumps(meta, indent=1))


def prepare_cache(cache_dir: str, fingerprint: str, class_keys: Sequence[str],
                  downsample: int, clear_stale: bool = False) -> int:
    """Make ``cache_dir`` a cache of these settings before maps are written.

    A missing cache is created. Leftovers of writers that were killed
    (``.partial`` files, never read) are removed and counted in the log. A
    cache of other settings (VLM, classes, downsampling) or without
    ``meta.json`` (an older or interrupted one) is an error, or with
    ``clear_stale`` its maps and calibration are deleted (they can never be
    read under these settings) and that is logged. Returns the number of
    maps deleted.

    Other ranks may already be writing when a rank calls it, so only
    leftovers untouched for :data:`LEFTOVER_AGE_S` are removed (a map is
    written in well under a second); a writer killed just before a restart
    leaves its file to the next start.
    """
    settings = _settings(fingerprint, class_keys, downsample)
    os.makedirs(cache_dir, exist_ok=True)
    leftovers = remove_leftovers(cache_dir)
    if leftovers:
        print_log(f"VLM evidence cache '{cache_dir}': removed {len(leftovers)} partial "
                  f"file(s) left by writers that were stopped, e.g. "
                  f"'{osp.basename(leftovers[0])}'", logger='current', level=30)
    meta = _read_meta(cache_dir)
    if _same_settings(meta, settings):
        return 0
    maps = glob.glob(osp.join(cache_dir, '*.npy'))
    stale = maps + glob.glob(osp.join(cache_dir, CALIBRATION_FILE))
    if stale and not clear_stale:
        raise ValueError(
            f"VLM evidence cache '{cache_dir}' was built for another VLM configuration, "
            f'class list or downsampling ({_describe(meta)}; this config: fingerprint '
            f'{fingerprint}, x{downsample}): it is stale. Fix: delete the directory or set '
            'another model.purifier.cache_dir, or run `python tools/precompute_vlm.py '
            'CONFIG --force`.')
    for path in stale:
        os.remove(path)
    if stale:
        print_log(f"VLM evidence cache '{cache_dir}': {len(maps)} maps of another VLM "
                  f'configuration ({_describe(meta)}) deleted; they are computed again '
                  'for this one', logger='current', level=30)
    write_meta(cache_dir, fingerprint, class_keys, downsample)
    return len(maps)


def remove_leftovers(cache_dir: str, min_age_s: Optional[float] = None) -> List[str]:
    """Remove the ``.partial`` files of ``cache_dir`` untouched for
    ``min_age_s`` seconds (default :data:`LEFTOVER_AGE_S`); return their paths."""
    min_age_s = LEFTOVER_AGE_S if min_age_s is None else min_age_s
    now, removed = time.time(), []
    for path in sorted(glob.glob(osp.join(glob.escape(cache_dir), '*'))):
        try:
            if is_partial(path) and now - os.stat(path).st_mtime >= min_age_s:
                os.remove(path)
                removed.append(path)
        except FileNotFoundError:  # its writer renamed or removed it meanwhile
            continue
    return removed


def _describe(meta: Optional[dict]) -> str:
    if meta is None:
        return 'no meta.json'
    return (f"fingerprint {meta.get('fingerprint')}, x{meta.get('downsample')}, "
            f"classes {meta.get('classes')}")


class EvidenceCache:
    """Reads and checks a cache for one VLM configuration.

    Every mismatch is an error that names the cache and how to rebuild it:
    a missing directory, another VLM configuration (fingerprint), other
    classes, an image without a map, or a map of the wrong shape. Nothing is
    kept in memory: maps are memory-mapped on each read.
    """

    def __init__(self, cache_dir: str, fingerprint: str, class_keys: Sequence[str]) -> None:
        meta = _read_meta(cache_dir)
        if meta is None:
            raise FileNotFoundError(f"VLM evidence cache '{cache_dir}' is missing "
                                    f'(no meta.json). Fix: {FIX}.')
        if meta.get('format') != CACHE_FORMAT or meta.get('fingerprint') != fingerprint:
            raise ValueError(
                f"VLM evidence cache '{cache_dir}' was built for another VLM "
                f"configuration (fingerprint {meta.get('fingerprint')}, format "
                f"{meta.get('format')}; this config {fingerprint}, format {CACHE_FORMAT}): "
                f'it is stale. Fix: {FIX}.')
        if list(meta['classes']) != list(class_keys):
            raise ValueError(f"VLM evidence cache '{cache_dir}' holds classes "
                             f"{meta['classes']}, the config {list(class_keys)}. Fix: {FIX}.")
        self.cache_dir, self.downsample = cache_dir, int(meta['downsample'])
        self.fingerprint, self.class_keys = fingerprint, list(class_keys)
        # sizes recorded by tools/precompute_vlm.py (maps written during
        # training are checked by their shape only)
        self.sizes: Dict[str, list] = meta.get('images') or {}
        self.num_classes = len(class_keys)

    def path(self, img_path: str) -> str:
        return osp.join(self.cache_dir, cache_key(img_path) + '.npy')

    def has(self, img_path: str) -> bool:
        return osp.isfile(self.path(img_path))

    def load(self, img_path: str, ori_shape: Sequence[int]) -> np.ndarray:
        """The (C, h, w) float16 map of one image, memory-mapped, checked
        against the image's size."""
        key, file = cache_key(img_path), self.path(img_path)
        if key in self.sizes and list(ori_shape[:2]) != self.sizes[key]:
            raise ValueError(f"VLM evidence cache '{self.cache_dir}': image '{img_path}' is "
                             f'{tuple(ori_shape[:2])} but was {tuple(self.sizes[key])} when '
                             f'cached (stale). Fix: {FIX}.')
        if not osp.isfile(file):
            raise KeyError(f"VLM evidence cache '{self.cache_dir}' has no map for image "
                           f"'{img_path}': the cache was built for another image list "
                           f'(stale) or not for this image yet. Fix: {FIX}.')
        try:
            arr = np.load(file, mmap_mode='r')
        except (OSError, ValueError) as e:
            raise OSError(f"cannot read cached VLM evidence '{file}' ({e}). Fix: {FIX}.") from e
        h, w = (-(-s // self.downsample) for s in ori_shape[:2])
        if arr.shape != (self.num_classes, h, w) or arr.dtype != np.float16:
            raise ValueError(f"cached VLM evidence '{file}' has shape {arr.shape} "
                             f'({arr.dtype}), expected {(self.num_classes, h, w)} float16 '
                             f'(classes, H/{self.downsample}, W/{self.downsample}). '
                             f'Fix: {FIX}.')
        return arr

    def sample(self, img_paths: Sequence[str], ori_shapes: Sequence[Sequence[int]],
               coords: Tensor) -> Tuple[Tensor, Tensor]:
        """Evidence of each view's pixels from their source coordinates.

        Args:
            coords: (B, 2, H, W) source (x, y) pixel of each view pixel, -1 on
                padding (see :class:`AddSourceCoords`).

        Returns:
            ``(evidence (B, C, H, W), has_evidence (B, H, W))``, bilinear in
            the cached grid with its border repeated.
        """
        out = []
        valid = coords[:, 0] >= 0
        for path, shape, xy, ok in zip(img_paths, ori_shapes, coords, valid):
            arr = self.load(path, shape)
            h, w = arr.shape[-2:]
            f = self.downsample
            # pixel centre (x + 0.5) in the cached grid, in cells
            u = (xy[0] + 0.5) / f - 0.5
            v = (xy[1] + 0.5) / f - 0.5
            # read only the cells the bilinear taps can reach
            x0, x1, y0, y1 = _tap_box(u[ok], w), _tap_box(u[ok], w, hi=True), \
                _tap_box(v[ok], h), _tap_box(v[ok], h, hi=True)
            box = torch.from_numpy(np.asarray(arr[:, y0:y1, x0:x1], dtype=np.float32))
            gx = (u - x0 + 0.5) / (x1 - x0) * 2 - 1
            gy = (v - y0 + 0.5) / (y1 - y0) * 2 - 1
            grid = torch.stack([gx, gy], dim=-1)[None].to(box.dtype)
            out.append(F.grid_sample(box[None], grid, mode='bilinear',
                                     padding_mode='border', align_corners=False)[0])
        return torch.stack(out).to(coords.device), valid


def _tap_box(c: Tensor, size: int, hi: bool = False) -> int:
    """First (or one past the last) cell of ``[0, size)`` a bilinear tap at
    the continuous cell coordinates ``c`` reads; the whole axis when no
    pixel is valid. Outside the grid the border cell is read (as
    ``padding_mode='border'`` does)."""
    if c.numel() == 0:
        return size if hi else 0
    if hi:
        return int(min(size, max(1, int(torch.floor(c.max())) + 2)))
    return int(min(size - 1, max(0, int(torch.floor(c.min())))))


def write_calibration(cache_dir: str, fingerprint: str, class_keys: Sequence[str],
                      labeled: Sequence[str], confusion: Tensor, pixels: Sequence[int]) -> None:
    """Store the VLM's confusion on the labeled set (``semiearth.vlm.calibration``), tied to
    the VLM settings, the classes and the labeled images it was measured on."""
    data = dict(format=CACHE_FORMAT, fingerprint=fingerprint, classes=list(class_keys),
                labeled=sorted(labeled), confusion=confusion.tolist(),
                pixels_per_class=[int(p) for p in pixels])
    atomic_write_text(osp.join(cache_dir, CALIBRATION_FILE), json.dumps(data))


def load_calibration(cache_dir: Optional[str], fingerprint: str,
                     class_keys: Sequence[str]) -> dict:
    """The calibration of this VLM configuration, or an error that says how to
    make it."""
    path = osp.join(cache_dir or '', CALIBRATION_FILE)
    if not cache_dir or not osp.isfile(path):
        raise FileNotFoundError(
            f"no VLM calibration '{path}' (model.purifier.cache_dir): the calibrated rule "
            f'measures the VLM on the labeled images first. Fix: {FIX}.')
    with open(path) as f:
        data = json.load(f)
    if data.get('fingerprint') != fingerprint or list(data.get('classes', [])) != list(class_keys):
        raise ValueError(f"VLM calibration '{path}' was measured for another VLM configuration "
                         f'or class list (stale). Fix: {FIX}.')
    return data
