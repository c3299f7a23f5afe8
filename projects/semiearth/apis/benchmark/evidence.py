"""The VLM evidence the step benchmark's SemiEarth variants read, prepared
untimed before the timing: the precomputed cache of ``semiearth_cached`` and
the calibrated, otherwise empty, write-through cache of ``semiearth_auto``
(as :class:`VLMEvidenceHook` leaves it before iteration 1). On fake data the
maps are computed from the fake images by name; the calibration is always
:func:`semiearth.vlm.calibration.calibrate` on the labeled images' cached
maps."""
import copy
import glob
import os
import os.path as osp
from typing import List

import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from ...engine.hooks.vlm_evidence_hook import prepare_auto_evidence
from ...vlm import DenseCLIP
from ...vlm.calibration import calibrate
from ...vlm.dataset_images import DatasetImages, normalize_image
from ...vlm.evidence_cache import EvidenceCache, prepare_cache, write_map
from ..vlm_tools import build_purifier_vlm, purifier_cfg


def auto_cache_dir(cfg: Config) -> str:
    """The write-through variant's own cache, beside the precomputed one."""
    return osp.join(cfg.model.purifier.cache_dir, 'auto')


def remove_maps(cache_dir: str) -> int:
    """Delete the maps in ``cache_dir`` (its settings and calibration stay);
    returns how many."""
    maps = glob.glob(osp.join(cache_dir, '*.npy'))
    for path in maps:
        os.remove(path)
    return len(maps)


def write_fake_maps(cfg: Config, vlm: DenseCLIP, batches, steps: int, branch: str,
                    cache_dir: str, factor: int, device) -> List[dict]:
    """Write the VLM map of every ``branch`` image of the first ``steps``
    fake batches into ``cache_dir``; returns the images as calibration items
    (``img_path`` and, where labeled, ``gt_seg_map``)."""
    items = []
    for step in range(steps):
        batch = batches[step]
        pairs = [(x, s) for x, s in zip(batch['inputs'][branch], batch['data_samples'][branch])
                 if x is not None]
        x = torch.cat([normalize_image(img.permute(1, 2, 0).numpy(), cfg) for img, _ in pairs])
        with torch.no_grad():
            probs = vlm(x.to(device)).float().cpu()
        for (_, sample), p in zip(pairs, probs):
            write_map(cache_dir, sample.metainfo['img_path'], p, factor)
            item = dict(img_path=sample.metainfo['img_path'])
            if 'gt_sem_seg' in sample:
                item['gt_seg_map'] = sample.gt_sem_seg.data[0].numpy()
            items.append(item)
    return items


def precompute_fake_evidence(cfg: Config, batches, steps: int, device, cache_dir: str,
                             maps: bool = True) -> None:
    """Into ``cache_dir``: with ``maps`` the VLM evidence of every unlabeled
    fake image of the first ``steps`` batches, and the calibration, measured
    by :func:`calibrate` on the labeled fake crops' maps, as
    ``tools/precompute_vlm.py`` does on a dataset. Without ``maps`` the
    labeled maps are removed afterwards (the write-through cache starts
    empty but for the calibration)."""
    purifier = purifier_cfg(cfg)
    factor = int(purifier.get('downsample', 1))
    vlm = build_purifier_vlm(cfg).to(device)
    fingerprint = DenseCLIP.settings_fingerprint(**purifier['vlm'])
    prepare_cache(cache_dir, fingerprint, vlm.class_keys, factor)
    if maps:
        write_fake_maps(cfg, vlm, batches, steps, 'unsup_weak', cache_dir, factor, device)
    labeled = write_fake_maps(cfg, vlm, batches, steps, 'sup', cache_dir, factor, device)
    calibrate(EvidenceCache(cache_dir, fingerprint, vlm.class_keys), labeled)
    if not maps:
        remove_maps(cache_dir)
    del vlm


def prepare_auto_cache(cfg: Config, device) -> DatasetImages:
    """The write-through variant's cache on the config's data, made by
    :func:`prepare_auto_evidence` (what :class:`VLMEvidenceHook` runs before
    training) for a purifier of ``evidence='auto'`` in :func:`auto_cache_dir`;
    the labeled maps it computed for the calibration are removed (training
    meets unlabeled images). Returns the image source to bind."""
    purifier_config = copy.deepcopy(purifier_cfg(cfg))
    purifier_config.update(evidence='auto', cache_dir=auto_cache_dir(cfg))
    purifier = MODELS.build(purifier_config)
    images = DatasetImages(cfg)
    prepare_auto_evidence(purifier, images, device)
    remove_maps(auto_cache_dir(cfg))
    return images
