"""Precompute the VLM evidence of a SemiEarth config up front (every
unlabeled and labeled image's map) and calibrate the VLM on the labeled
images: what ``tools/precompute_vlm.py`` and the step benchmark's cached
variant run. See :mod:`semiearth.vlm.evidence_cache` for the cache and
:func:`semiearth.vlm.calibration.calibrate` for the calibration."""
import os.path as osp
from typing import Dict, List, Tuple

import torch
from mmengine.config import Config
from mmengine.utils import ProgressBar

from ..vlm import DenseCLIP
from ..vlm.calibration import calibrate, per_class_accuracy
from ..vlm.dataset_images import DatasetImages
from ..vlm.evidence_cache import (CALIBRATION_FILE, EvidenceCache, cache_key, prepare_cache,
                                  write_map, write_meta)
from .vlm_tools import build_purifier_vlm, purifier_cfg


def images_to_compute(images: DatasetImages, cache: EvidenceCache,
                      force: bool) -> Tuple[Dict[str, str], List[str]]:
    """(cache key -> path of every image, the paths whose map is to be
    computed: missing ones, or all with ``force``). Keys are file names,
    which must be unique over the labeled and unlabeled sets."""
    names, todo = {}, []
    for dataset in (images.unlabeled, images.labeled):
        for i in range(len(dataset)):
            path = dataset.get_data_info(i)['img_path']
            key = cache_key(path)
            if key in names:
                raise ValueError(f'two images are named {key!r} ({names[key]} and {path}): '
                                 'cache keys are file names, which must be unique within '
                                 'the labeled and unlabeled sets')
            names[key] = path
            if force or not cache.has(path):
                todo.append(path)
    return names, todo


def compute_maps(vlm: DenseCLIP, images: DatasetImages, todo: List[str], cache_dir: str,
                 factor: int, device, batch_size: int, sizes: dict) -> None:
    """Write the map of every image in ``todo`` (forwards of up to
    ``batch_size`` images of one size); records each image's size in
    ``sizes``."""
    bar = ProgressBar(len(todo)) if todo else None
    batch = []

    def flush():
        x = torch.cat([b[1] for b in batch]).to(device)
        with torch.no_grad():
            probs = vlm(x).float().cpu()
        for (path, image), p in zip(batch, probs):
            write_map(cache_dir, path, p, factor)
            sizes[cache_key(path)] = tuple(image.shape[-2:])
            bar.update()
        batch.clear()

    for path in todo:
        x = images(path)
        if batch and batch[0][1].shape != x.shape:
            flush()  # one forward per image size
        batch.append((path, x))
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()


def precompute_evidence(cfg: Config, device, batch_size: int = 8,
                        force: bool = False) -> dict:
    """Fill ``model.purifier.cache_dir`` with the maps of every image of the
    config (maps of other VLM settings are deleted; maps already there kept
    unless ``force``), write ``meta.json`` and calibrate the VLM on the
    labeled images, printing what it does. Returns ``cache_dir``, ``images``
    (how many in meta.json), ``class_keys`` and ``accuracy`` (the VLM's, per
    class, on the labeled pixels)."""
    purifier = purifier_cfg(cfg)
    cache_dir, factor = purifier.get('cache_dir'), int(purifier.get('downsample', 1))
    if not cache_dir:
        raise ValueError(f'{cfg.filename}: model.purifier.cache_dir is not set')
    images = DatasetImages(cfg)
    fingerprint = DenseCLIP.settings_fingerprint(**purifier['vlm'])
    vlm = build_purifier_vlm(cfg, images.unlabeled).to(device)
    prepare_cache(cache_dir, fingerprint, vlm.class_keys, factor, clear_stale=True)
    cache = EvidenceCache(cache_dir, fingerprint, vlm.class_keys)
    sizes = {} if force else dict(cache.sizes)
    names, todo = images_to_compute(images, cache, force)
    print(f'VLM evidence -> {cache_dir}: {len(todo)} to compute, {len(names) - len(todo)} '
          f'kept ({len(images.unlabeled)} unlabeled and {len(images.labeled)} labeled '
          f'images, {vlm.num_classes} classes, x{factor} downsampled, float16)', flush=True)
    compute_maps(vlm, images, todo, cache_dir, factor, device, batch_size, sizes)
    for key, path in names.items():
        if key not in sizes:  # a map written during training: read the image's size
            dataset, i = images.index[path]
            sizes[key] = tuple(dataset[i]['img'].shape[:2])
    sizes = {k: v for k, v in sizes.items() if k in names}
    write_meta(cache_dir, fingerprint, vlm.class_keys, factor, sizes)
    counts = calibrate(EvidenceCache(cache_dir, fingerprint, vlm.class_keys), images.labeled)
    accuracy = per_class_accuracy(counts).tolist()
    print(f'\nwrote {osp.join(cache_dir, "meta.json")} ({len(sizes)} images) and '
          f'{CALIBRATION_FILE}: VLM accuracy per class on the labeled pixels '
          + ', '.join(f'{k} {a:.2f}' for k, a in zip(vlm.class_keys, accuracy)))
    return dict(cache_dir=cache_dir, images=len(sizes), class_keys=list(vlm.class_keys),
                accuracy=accuracy)
