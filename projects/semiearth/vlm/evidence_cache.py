"""Cached dense VLM evidence: one float16 map per unlabeled image.

Layout of a cache directory (written by ``tools/precompute_vlm.py``)::

    meta.json        format, VLM settings fingerprint, classes, downsample,
                     and every image's name and size
    <image name>.npy (C, ceil(H / f), ceil(W / f)) float16 probabilities

Training reads a map by the weak view's image name and samples it at the
view's source coordinates (:class:`AddSourceCoords`), so the cached map goes
through exactly the view's resize, crop and flip.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

CACHE_FORMAT = 1
FIX = 're-run `python tools/precompute_vlm.py CONFIG` for this config'


def cache_key(img_path: str) -> str:
    """Maps are named by the image's file name (unique within a dataset)."""
    return osp.splitext(osp.basename(img_path))[0]


def downsample_evidence(probs: Tensor, factor: int) -> Tensor:
    """(C, H, W) -> (C, ceil(H/f), ceil(W/f)) by averaging f x f blocks."""
    if factor == 1:
        return probs
    return F.avg_pool2d(probs[None], factor, ceil_mode=True, count_include_pad=False)[0]


def write_meta(cache_dir: str, fingerprint: str, class_keys: Sequence[str],
               downsample: int, images: Dict[str, Tuple[int, int]]) -> None:
    meta = dict(format=CACHE_FORMAT, fingerprint=fingerprint, classes=list(class_keys),
                downsample=downsample, images={k: list(v) for k, v in images.items()})
    with open(osp.join(cache_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=1)


class EvidenceCache:
    """Reads and checks a cache for one VLM configuration.

    Every mismatch is an error that names the cache and how to rebuild it:
    a missing directory, another VLM configuration (fingerprint), other
    classes, an image the cache was not built for, or a map of the wrong
    shape.
    """

    def __init__(self, cache_dir: str, fingerprint: str, class_keys: Sequence[str],
                 max_items: int = 4096) -> None:
        meta_file = osp.join(cache_dir, 'meta.json')
        if not osp.isfile(meta_file):
            raise FileNotFoundError(f"VLM evidence cache '{cache_dir}' is missing "
                                    f'(no meta.json). Fix: {FIX}, or set '
                                    "model.purifier.evidence='online'.")
        with open(meta_file) as f:
            meta = json.load(f)
        if meta.get('format') != CACHE_FORMAT or meta.get('fingerprint') != fingerprint:
            raise ValueError(
                f"VLM evidence cache '{cache_dir}' was built for another VLM "
                f"configuration (fingerprint {meta.get('fingerprint')}, this config "
                f'{fingerprint}): it is stale. Fix: {FIX}.')
        if list(meta['classes']) != list(class_keys):
            raise ValueError(f"VLM evidence cache '{cache_dir}' holds classes "
                             f"{meta['classes']}, the config {list(class_keys)}. Fix: {FIX}.")
        self.cache_dir, self.downsample = cache_dir, int(meta['downsample'])
        self.images: Dict[str, List[int]] = meta['images']
        self.num_classes = len(class_keys)
        self._maps: Dict[str, Tensor] = {}
        self.max_items = max_items

    def load(self, img_path: str, ori_shape: Sequence[int]) -> Tensor:
        """The (C, h, w) float32 map of one image, checked against its size."""
        key = cache_key(img_path)
        if key in self._maps:
            return self._maps[key]
        if key not in self.images:
            raise KeyError(f"VLM evidence cache '{self.cache_dir}' has no map for image "
                           f"'{img_path}': the cache was built for another image list "
                           f'(stale). Fix: {FIX}.')
        if list(ori_shape[:2]) != self.images[key]:
            raise ValueError(f"VLM evidence cache '{self.cache_dir}': image '{img_path}' is "
                             f'{tuple(ori_shape[:2])} but was {tuple(self.images[key])} when '
                             f'cached (stale). Fix: {FIX}.')
        file = osp.join(self.cache_dir, key + '.npy')
        try:
            arr = np.load(file)
        except (OSError, ValueError) as e:
            raise OSError(f"cannot read cached VLM evidence '{file}' ({e}). Fix: {FIX}.") from e
        h, w = (-(-s // self.downsample) for s in ori_shape[:2])
        if arr.shape != (self.num_classes, h, w):
            raise ValueError(f"cached VLM evidence '{file}' has shape {arr.shape}, expected "
                             f'{(self.num_classes, h, w)} (classes, H/{self.downsample}, '
                             f'W/{self.downsample}). Fix: {FIX}.')
        evidence = torch.from_numpy(arr.astype(np.float32))
        if len(self._maps) < self.max_items:
            self._maps[key] = evidence
        return evidence

    def sample(self, img_paths: Sequence[str], ori_shapes: Sequence[Sequence[int]],
               coords: Tensor) -> Tuple[Tensor, Tensor]:
        """Evidence of each view's pixels from their source coordinates.

        Args:
            coords: (B, 2, H, W) source (x, y) pixel of each view pixel, -1 on
                padding (see :class:`AddSourceCoords`).

        Returns:
            ``(evidence (B, C, H, W), has_evidence (B, H, W))``.
        """
        out = []
        for path, shape, xy in zip(img_paths, ori_shapes, coords):
            evidence = self.load(path, shape).to(coords.device)
            h, w = evidence.shape[-2:]
            f = self.downsample
            # pixel centre (x + 0.5) in the cached grid, normalised for grid_sample
            gx = (xy[0] + 0.5) / (f * w) * 2 - 1
            gy = (xy[1] + 0.5) / (f * h) * 2 - 1
            grid = torch.stack([gx, gy], dim=-1)[None]
            out.append(F.grid_sample(evidence[None], grid, mode='bilinear',
                                     padding_mode='border', align_corners=False)[0])
        return torch.stack(out), coords[:, 0] >= 0


def load_cache_settings(purifier_cfg: dict) -> Tuple[str, int]:
    """(cache_dir, downsample) of a VLMPurifyHead config."""
    cache_dir: Optional[str] = purifier_cfg.get('cache_dir')
    if not cache_dir:
        raise ValueError('model.purifier.cache_dir is not set: the config has no '
                         'place for cached VLM evidence')
    return cache_dir, int(purifier_cfg.get('downsample', 1))


CALIBRATION_FILE = 'calibration.json'


def write_calibration(cache_dir: str, fingerprint: str, class_keys: Sequence[str],
                      labeled: Sequence[str], confusion: Tensor, pixels: Sequence[int]) -> None:
    """Store the VLM's confusion on the labeled set (``fit_confusion``), tied to
    the VLM settings, the classes and the labeled images it was measured on."""
    data = dict(format=CACHE_FORMAT, fingerprint=fingerprint, classes=list(class_keys),
                labeled=sorted(labeled), confusion=confusion.tolist(),
                pixels_per_class=[int(p) for p in pixels])
    path = osp.join(cache_dir, CALIBRATION_FILE)
    with open(path + '.partial', 'w') as f:
        json.dump(data, f)
    os.replace(path + '.partial', path)


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
