"""Write the VLM evidence of every unlabeled and labeled image of a
SemiEarth config up front, and measure the VLM on the labeled images.

    python tools/precompute_vlm.py CONFIG [--vlm-checkpoint PATH]

Optional: with ``model.purifier.evidence='auto'`` (the configs' default)
training computes a missing map the first time it meets the image, and
measures the calibration before the first iteration. This tool pays that
cost before training, with its own batch size and device, and is needed for
``evidence='cached'`` (which never builds the VLM). Maps are float16,
downsampled by ``model.purifier.downsample``, one ``.npy`` per image in
``model.purifier.cache_dir`` with a ``meta.json`` that ties them to the VLM
settings (maps of other settings are deleted, and that is said; ``--force``
recomputes every map). Maps already cached are kept; each map is written
atomically, so an interrupted run keeps what it finished. On the labeled
images the cached maps are compared with the labels: ``calibration.json``
holds ``P(VLM says j | true class k)`` (the calibration of
:class:`CalibratedPurifyRule`), with each class's pixel count.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', 'projects'))
import semiearth  # noqa: E402,F401
import torch  # noqa: E402
from semiearth.apis.cli import CfgOptionsAction  # noqa: E402
from mmengine.utils import ProgressBar  # noqa: E402

from semiearth.apis.vlm_tools import (DatasetImages, build_purifier_vlm,  # noqa: E402
                                      load_semi_config, purifier_cfg)
from semiearth.vlm import DenseCLIP  # noqa: E402
from semiearth.vlm.calibration import calibrate, per_class_accuracy  # noqa: E402
from semiearth.vlm.evidence_cache import (CALIBRATION_FILE, EvidenceCache,  # noqa: E402
                                          cache_key, prepare_cache, write_map, write_meta)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('--vlm-checkpoint', help='local VLM weights (default: '
                   '$SEMIEARTH_VLM_CKPT, else the config\'s)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--batch-size', type=int, default=8,
                   help='images of the same size per VLM forward')
    p.add_argument('--force', action='store_true', help='recompute every map')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_semi_config(args.config, args.cfg_options, args.vlm_checkpoint)
    purifier = purifier_cfg(cfg)
    cache_dir, factor = purifier.get('cache_dir'), int(purifier.get('downsample', 1))
    if not cache_dir:
        raise ValueError(f'{args.config}: model.purifier.cache_dir is not set')
    images = DatasetImages(cfg)
    fingerprint = DenseCLIP.settings_fingerprint(**purifier['vlm'])
    vlm = build_purifier_vlm(cfg, images.unlabeled).to(args.device)
    num_classes = vlm.num_classes
    prepare_cache(cache_dir, fingerprint, vlm.class_keys, factor, clear_stale=True)
    cache = EvidenceCache(cache_dir, fingerprint, vlm.class_keys)
    sizes = {} if args.force else dict(cache.sizes)

    names, todo = {}, []
    for dataset in (images.unlabeled, images.labeled):
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            path, key = info['img_path'], cache_key(info['img_path'])
            if key in names:
                raise ValueError(f'two images are named {key!r} ({names[key]} and {path}): '
                                 'cache keys are file names, which must be unique within '
                                 'the labeled and unlabeled sets')
            names[key] = path
            if args.force or not cache.has(path):
                todo.append(path)
    print(f'VLM evidence -> {cache_dir}: {len(todo)} to compute, {len(names) - len(todo)} '
          f'kept ({len(images.unlabeled)} unlabeled and {len(images.labeled)} labeled '
          f'images, {num_classes} classes, x{factor} downsampled, float16)', flush=True)

    bar = ProgressBar(len(todo)) if todo else None
    batch = []

    def flush():
        x = torch.cat([b[1] for b in batch]).to(args.device)
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
        if len(batch) == args.batch_size:
            flush()
    if batch:
        flush()
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


if __name__ == '__main__':
    main()
