"""Prepare the purifier's write-through evidence cache before training."""
from mmengine.dist import barrier, get_dist_info, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from ...apis.vlm_tools import DatasetImages, measure_confusion
from ...models.purifiers import normalize_confusion
from ...vlm.evidence_cache import cache_key, load_calibration, write_calibration


@HOOKS.register_module()
class VLMEvidenceHook(Hook):
    """Make ``VLMPurifyHead(evidence='auto')`` ready to train, so that no
    precompute step is needed.

    Before the first iteration:

    1. the cache directory is made a cache of this VLM configuration (maps of
       another one are deleted, and that is logged);
    2. the purifier gets the config's images (:class:`DatasetImages`) to
       compute a missing map from the whole image during training;
    3. for a calibrated rule, unless ``calibration.json`` already holds this
       VLM measured on this labeled set: the labeled images' maps are
       computed (split over the ranks) and the VLM's confusion on them is
       measured and written (rank 0), as ``tools/precompute_vlm.py`` does.

    Ranks wait for each other between the steps. Does nothing without a
    purifier or with ``evidence`` ``'cached'`` / ``'online'``. A resumed run
    finds everything in place and only checks it.
    """
    priority = 'NORMAL'

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        purifier = getattr(model, 'purifier', None)
        if purifier is None or getattr(purifier, 'evidence', None) != 'auto':
            return
        if is_main_process():
            purifier.prepare_cache(clear_stale=True)
        barrier()
        images = DatasetImages(runner.cfg)
        purifier.bind_images(images)
        if not getattr(purifier.rule, 'needs_calibration', False):
            return
        labeled = [images.labeled.get_data_info(i)['img_path']
                   for i in range(len(images.labeled))]
        keys = sorted(cache_key(p) for p in labeled)
        try:
            if load_calibration(purifier.cache_dir, purifier.fingerprint,
                                purifier.class_keys)['labeled'] == keys:
                return
        except (FileNotFoundError, ValueError):
            pass  # missing or stale: measured below
        rank, world = get_dist_info()
        device = next(model.parameters()).device
        n = purifier.write_missing(labeled[rank::world], device)
        print_log(f'VLMEvidenceHook: VLM evidence of {n} labeled images computed into '
                  f'{purifier.cache_dir} (rank {rank})', logger='current')
        barrier()
        if is_main_process():
            counts = measure_confusion(purifier.cache, images.labeled)
            write_calibration(purifier.cache_dir, purifier.fingerprint, purifier.class_keys,
                              keys, normalize_confusion(counts), counts.sum(dim=1).tolist())
            accuracy = counts.diagonal() / counts.sum(dim=1).clamp(min=1)
            print_log('VLMEvidenceHook: calibration measured on '
                      f'{len(keys)} labeled images, VLM accuracy per class '
                      + ', '.join(f'{k} {a:.2f}' for k, a in
                                  zip(purifier.class_keys, accuracy.tolist())),
                      logger='current')
        barrier()
