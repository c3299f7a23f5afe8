"""Write the VLM evidence of every unlabeled and labeled image of a
SemiEarth config once, and measure the VLM on the labeled images.

    python tools/precompute_vlm.py CONFIG [--vlm-checkpoint PATH]

The VLM is frozen and the images do not change, so training with
``model.purifier.evidence='cached'`` reads these maps instead of running the
VLM every step. Maps are float16, downsampled by ``model.purifier.downsample``,
one ``.npy`` per image in ``model.purifier.cache_dir`` with a ``meta.json``
that ties them to the VLM settings (a changed config makes training fail
with "stale" until this is re-run). Images already cached under the same
settings are kept (``--force`` recomputes all). On the labeled images the
VLM's answers are compared with the labels: ``calibration.json`` holds
``P(VLM says j | true class k)`` (the calibration of
:class:`CalibratedPurifyRule`), with each class's pixel count.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', 'projects'))
import semiearth  # noqa: E402,F401
import numpy as np  # noqa: E402
import torch  # noqa: E402
from semiearth.apis.cli import CfgOptionsAction  # noqa: E402
from mmengine.utils import ProgressBar  # noqa: E402

from semiearth.apis import (build_loading_dataset, build_purifier_vlm,  # noqa: E402
                            load_semi_config, normalize_image, purifier_cfg)
from semiearth.vlm import DenseCLIP  # noqa: E402
from semiearth.models.purifiers import confusion_counts, normalize_confusion  # noqa: E402
from semiearth.vlm.evidence_cache import (CACHE_FORMAT, CALIBRATION_FILE,  # noqa: E402
                                          cache_key, downsample_evidence, write_calibration,
                                          write_meta)


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


def existing_images(cache_dir, fingerprint, classes, downsample):
    """Images of a cache built with the same settings (else none)."""
    meta_file = osp.join(cache_dir, 'meta.json')
    if not osp.isfile(meta_file):
        return {}
    with open(meta_file) as f:
        meta = json.load(f)
    same = (meta.get('format') == CACHE_FORMAT and meta.get('fingerprint') == fingerprint
            and meta.get('classes') == list(classes) and meta.get('downsample') == downsample)
    return {k: tuple(v) for k, v in meta['images'].items()} if same else {}


def main(argv=None):
    args = parse_args(argv)
    cfg = load_semi_config(args.config, args.cfg_options, args.vlm_checkpoint)
    purifier = purifier_cfg(cfg)
    cache_dir, factor = purifier.get('cache_dir'), int(purifier.get('downsample', 1))
    if not cache_dir:
        raise ValueError(f'{args.config}: model.purifier.cache_dir is not set')
    parts = {'unlabeled': build_loading_dataset(cfg),
             'labeled': build_loading_dataset(cfg, 'labeled', with_labels=True)}
    fingerprint = DenseCLIP.settings_fingerprint(**purifier['vlm'])
    vlm = build_purifier_vlm(cfg, parts['unlabeled']).to(args.device)
    num_classes = vlm.num_classes

    os.makedirs(cache_dir, exist_ok=True)
    done = {} if args.force else existing_images(cache_dir, fingerprint, vlm.class_keys,
                                                 factor)
    meta_file = osp.join(cache_dir, 'meta.json')
    if osp.exists(meta_file):
        os.remove(meta_file)  # an interrupted run must not leave a valid-looking cache
    images, todo, names = {}, [], {}
    for part, dataset in parts.items():
        for i in range(len(dataset)):
            path = dataset.get_data_info(i)['img_path']
            key = cache_key(path)
            if key in names:
                raise ValueError(f'two images are named {key!r} ({names[key]} and {path}): '
                                 'cache keys are file names, which must be unique within '
                                 'the labeled and unlabeled sets')
            names[key] = path
            cached = key in done and osp.isfile(osp.join(cache_dir, key + '.npy'))
            if cached:
                images[key] = done[key]
            if part == 'labeled' or not cached:
                # labeled images are run through the VLM again for the calibration
                todo.append((part, path, i, cached))
    compute = sum(not t[3] for t in todo)
    print(f'VLM evidence -> {cache_dir}: {compute} to compute, {len(images)} kept '
          f"({len(parts['unlabeled'])} unlabeled and {len(parts['labeled'])} labeled images, "
          f'{num_classes} classes, x{factor} downsampled, float16)', flush=True)

    bar = ProgressBar(len(todo)) if todo else None
    batch = []
    counts = torch.zeros(num_classes, num_classes, dtype=torch.float64)

    def flush():
        x = torch.cat([b[4] for b in batch]).to(args.device)
        probs = vlm(x).float().cpu()
        for (part, path, index, cached, _), p in zip(batch, probs):
            if not cached:
                np.save(osp.join(cache_dir, cache_key(path) + '.npy'),
                        downsample_evidence(p, factor).numpy().astype(np.float16))
                images[cache_key(path)] = tuple(x.shape[-2:])
            if part == 'labeled':
                gt = torch.from_numpy(np.asarray(parts['labeled'][index]['gt_seg_map']))
                counts.add_(confusion_counts(p.max(0).indices, gt, num_classes))
            bar.update()
        batch.clear()

    for part, path, index, cached in todo:
        x = normalize_image(parts[part][index]['img'], cfg)
        if batch and batch[0][4].shape != x.shape:
            flush()  # one forward per image size
        batch.append((part, path, index, cached, x))
        if len(batch) == args.batch_size:
            flush()
    if batch:
        flush()
    write_meta(cache_dir, fingerprint, vlm.class_keys, factor, images)
    confusion = normalize_confusion(counts)
    labeled = [cache_key(parts['labeled'].get_data_info(i)['img_path'])
               for i in range(len(parts['labeled']))]
    write_calibration(cache_dir, fingerprint, vlm.class_keys, labeled, confusion,
                      counts.sum(dim=1).tolist())
    accuracy = (counts.diagonal() / counts.sum(dim=1).clamp(min=1)).tolist()
    print(f'\nwrote {osp.join(cache_dir, "meta.json")} ({len(images)} images) and '
          f'{CALIBRATION_FILE}: VLM accuracy per class on the labeled pixels '
          + ', '.join(f'{k} {a:.2f}' for k, a in zip(vlm.class_keys, accuracy)))


if __name__ == '__main__':
    main()
