"""Prepare the purifier's write-through evidence cache before training."""
from mmengine.dist import barrier, get_dist_info, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS

from ...utils import unwrap_model
from ...vlm.calibration import calibrate, per_class_accuracy
from ...vlm.dataset_images import DatasetImages
from ...vlm.evidence_cache import cache_key, load_calibration


def calibration_is_current(purifier, labeled_keys) -> bool:
    """Whether ``calibration.json`` holds this VLM measured on these labeled
    images (a resumed run, or a cache another run calibrated)."""
    try:
        data = load_calibration(purifier.cache_dir, purifier.fingerprint, purifier.class_keys)
    except (FileNotFoundError, ValueError):
        return False  # missing or stale
    return data['labeled'] == sorted(labeled_keys)


def prepare_auto_evidence(purifier, images: DatasetImages, device) -> None:
    """What :class:`VLMEvidenceHook` does before iteration 1, callable
    without a runner (the step benchmark): clear maps of another VLM
    configuration, bind ``images``, and for a calibrated rule compute the
    labeled maps (split over ranks) and :func:`calibrate` on rank 0."""
    if is_main_process():
        purifier.prepare_cache(clear_stale=True)
    barrier()
    purifier.bind_images(images)
    if not getattr(purifier.rule, 'needs_calibration', False):
        return
    labeled = [images.labeled.get_data_info(i)['img_path'] for i in range(len(images.labeled))]
    keys = [cache_key(p) for p in labeled]
    if calibration_is_current(purifier, keys):
        return
    rank, world = get_dist_info()
    n = purifier.write_missing(labeled[rank::world], device)
    print_log(f'VLMEvidenceHook: VLM evidence of {n} labeled images computed into '
              f'{purifier.cache_dir} (rank {rank})', logger='current')
    barrier()
    if is_main_process():
        counts = calibrate(purifier.cache, images.labeled, keys=keys)
        print_log('VLMEvidenceHook: calibration measured on '
                  f'{len(keys)} labeled images, VLM accuracy per class '
                  + ', '.join(f'{k} {a:.2f}' for k, a in
                              zip(purifier.class_keys, per_class_accuracy(counts).tolist())),
                  logger='current')
    barrier()


@HOOKS.register_module()
class VLMEvidenceHook(Hook):
    """Make ``VLMPurifyHead(evidence='auto')`` ready to train, so that no
    precompute step is needed.

    Before the first iteration (:func:`prepare_auto_evidence`):

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
        model = unwrap_model(runner.model)
        purifier = getattr(model, 'purifier', None)
        if purifier is None or getattr(purifier, 'evidence', None) != 'auto':
            return
        prepare_auto_evidence(purifier, DatasetImages(runner.cfg),
                              next(model.parameters()).device)
