"""One PNG per unlabeled image: what the purifier did to the teacher's pseudo-labels.

    python tools/analysis_tools/visualize_purification.py CONFIG TEACHER_CKPT

Panels: image (RGB bands), teacher pseudo-label, VLM evidence argmax,
purified label, changed pixels, ground truth. Pixels under the confidence
threshold are drawn dark in the label panels. Evidence is the config's
(cached, or online); ``--simulated-quality Q`` uses evidence simulated from
the ground truth instead, and says so in every title.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', 'projects'))
import semiearth  # noqa: E402,F401
import numpy as np  # noqa: E402
import torch  # noqa: E402
from semiearth.apis.cli import CfgOptionsAction  # noqa: E402
from mmseg.registry import DATASETS  # noqa: E402

from semiearth.apis import (load_semi_config, model_data_preprocessor,  # noqa: E402
                            purifier_cfg)
from semiearth.apis.purification_analysis import (IGNORE, build_teacher,  # noqa: E402
                                                  simulated_evidence, teacher_outputs,
                                                  unlabeled_batches)
from semiearth.vlm.evidence_cache import cache_key  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config', help='a SemiEarth config (its purifier is used)')
    p.add_argument('checkpoint', help='teacher checkpoint')
    p.add_argument('--num', type=int, default=4, help='number of unlabeled images')
    p.add_argument('--simulated-quality', type=float, default=None,
                   help='use SIMULATED evidence of this quality instead of the VLM')
    p.add_argument('--out-dir', default='work_dirs/visualize_purification')
    p.add_argument('--vlm-checkpoint', help='local VLM weights')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    return p.parse_args(argv)


def colorize(label, palette, dim=None):
    pal = np.concatenate([np.asarray(palette, np.uint8), np.zeros((256 - len(palette), 3),
                                                                  np.uint8)])
    rgb = pal[np.clip(label, 0, 255)].astype(np.float32)
    rgb[label == IGNORE] = 0
    if dim is not None:
        rgb[dim] *= 0.3
    return rgb.astype(np.uint8)


def rgb_image(x, cfg, vlm_cfg):
    dp = model_data_preprocessor(cfg)
    mean = np.asarray(dp['mean'], np.float32)[:, None, None]
    std = np.asarray(dp['std'], np.float32)[:, None, None]
    img = x.cpu().numpy() * std + mean
    bands = list(vlm_cfg.get('rgb_bands', (0, 1, 2)))
    img = img[bands].transpose(1, 2, 0)
    lo, hi = np.percentile(img, 2), np.percentile(img, 98)
    return np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1)


def main(argv=None):
    args = parse_args(argv)
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    cfg = load_semi_config(args.config, args.cfg_options, args.vlm_checkpoint)
    vlm_cfg = purifier_cfg(cfg)['vlm']
    model = build_teacher(cfg, args.checkpoint, args.device)
    thresh = cfg.model.semi_train_cfg.get('conf_thresh', 0.95)
    ds_type = cfg.train_dataloader.dataset.unlabeled.type
    palette = DATASETS.get(ds_type).METAINFO['palette']
    sim = args.simulated_quality
    tag = f'SIMULATED evidence (quality {sim:g})' if sim is not None else \
        f'VLM evidence ({model.purifier.evidence})'
    os.makedirs(args.out_dir, exist_ok=True)
    written = []
    for n, batch in enumerate(unlabeled_batches(cfg, batch_size=1, limit=args.num)):
        out = teacher_outputs(model, batch)
        probs, gt = out['probs'], out['gt']
        if sim is not None:
            evidence = simulated_evidence(gt, probs.shape[1], sim, seed=n)['probs']
            has = torch.ones_like(gt, dtype=torch.bool)
        else:
            evidence, has = model.purifier.get_evidence(out['inputs'], out['metas'],
                                                        out['coords'])
        conf0, label0 = probs.max(1)
        label, conf, _ = model.purifier.purify(probs, evidence, has, model.thresholds(label0))
        everywhere = torch.ones_like(has)
        l0, lp, g = label0[0].cpu().numpy(), label[0].cpu().numpy(), gt[0].cpu().numpy()
        a0 = model.accept(label0, conf0, everywhere)[0].cpu().numpy()
        ap = model.accept(label, conf, everywhere)[0].cpu().numpy()
        changed = np.zeros((*l0.shape, 3), np.uint8)
        changed[(l0 != lp)] = (255, 0, 0)          # relabelled
        changed[ap & ~a0] = (0, 200, 0)            # newly accepted
        changed[a0 & ~ap] = (0, 80, 255)           # no longer accepted
        panels = [
            ('image (RGB bands)', rgb_image(out['inputs'][0], cfg, vlm_cfg)),
            (f'teacher pseudo-label\n(dark: conf < {thresh})', colorize(l0, palette, ~a0)),
            (f'{tag}\nargmax', colorize(np.where(
                (g == IGNORE) & (sim is not None), IGNORE,
                evidence[0].argmax(0).cpu().numpy()), palette)),
            (f'purified label ({type(model.purifier.rule).__name__})\n(dark: conf < {thresh})',
             colorize(lp, palette, ~ap)),
            ('changed: red relabelled,\ngreen newly accepted, blue dropped', changed),
            ('ground truth', colorize(g, palette)),
        ]
        fig, axes = plt.subplots(1, 6, figsize=(20, 4))
        for ax, (title, img) in zip(axes, panels):
            ax.imshow(img, interpolation='nearest')
            ax.set_title(title, fontsize=8)
            ax.axis('off')
        name = cache_key(out['metas'][0]['img_path'])
        fig.suptitle(f'{name}: {(l0 != lp).mean():.1%} relabelled, accepted '
                     f'{a0.mean():.1%} -> {ap.mean():.1%}; {tag}', fontsize=10)
        fig.tight_layout()
        path = osp.join(args.out_dir, f'{name}.png')
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
        print(path)
    return written


if __name__ == '__main__':
    main()
