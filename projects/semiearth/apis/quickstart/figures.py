"""The quick start's figures: test predictions of each method beside the
ground truth (``predictions.png``) and the pseudo-label curves
(``pseudo_labels.png``)."""
import os.path as osp
from typing import Dict, List

import numpy as np

from .training_logs import PSEUDO_KEYS, REGION_KEYS


def colourise(label: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Class map -> RGB by ``palette``; ignore / nodata (any index past the
    palette) white."""
    out = np.full(label.shape + (3,), 255, np.uint8)
    ok = label < len(palette)
    out[ok] = palette[label[ok]]
    return out


def pyplot():
    """matplotlib's pyplot on the file-only backend."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def plot_curves(records: List[dict], per_method_seeds: Dict[str, List[dict]],
                path: str) -> bool:
    """Pseudo-label curves of every run that logged some: one panel per
    :data:`PSEUDO_KEYS` (all pixels), then per :data:`REGION_KEYS` (the
    ground truth's boundary band and interior); False (nothing written) when
    none did."""
    plt = pyplot()
    semi = [(r, per_method_seeds[r['method']]) for r in records
            if any(m['curves'] for m in per_method_seeds[r['method']])]
    if not semi:
        return False
    keys = PSEUDO_KEYS + REGION_KEYS
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.4))
    axes = axes.flatten()
    axes[len(PSEUDO_KEYS)].remove()  # the first row has three panels
    axes = list(axes[:len(PSEUDO_KEYS)]) + list(axes[len(PSEUDO_KEYS) + 1:])
    for ax, key in zip(axes, keys):
        for r, runs in semi:
            for seed, m in zip(r['seeds'], runs):
                if key in m['curves']:
                    it, val = zip(*m['curves'][key])
                    ax.plot(it, val, label=f"{r['method']} s{seed}", lw=1)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel('iteration (from the supervised checkpoint)', fontsize=8)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle('Unlabeled pixels passing the threshold (mask_ratio) and pseudo-label '
                 'accuracy on them (acc) / on all pixels (acc_all); second row: the same in '
                 "the ground truth's boundary band and interior", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def median_seed(record: dict) -> int:
    """Index of the run with the median test mIoU (the upper one of two)."""
    order = np.argsort(record['miou_per_seed'])
    return int(order[len(order) // 2])


def _models(records: List[dict], root: str) -> list:
    from mmengine.config import Config
    from mmseg.apis import init_model
    models = []
    for r in records:
        cfg = Config.fromfile(osp.join(root, r['config']))
        ckpt = r['checkpoints'][median_seed(r)]
        models.append((r['method'], cfg, init_model(cfg, ckpt, device='cpu')))
    return models


def save_predictions(records: List[dict], path: str, num: int, data_root: str,
                     root: str) -> None:
    """image | ground truth | one prediction per method, on ``num`` test
    tiles spread over the test split (each method's median-seed
    checkpoint)."""
    import cv2
    from mmseg.apis import inference_model
    plt = pyplot()
    models = _models(records, root)
    meta = models[0][2].dataset_meta
    palette = np.array(meta['palette'], np.uint8)
    data = osp.join(root, data_root)
    names = [s.strip() for s in open(osp.join(data, 'splits/test.txt')) if s.strip()]
    names = [names[i] for i in np.linspace(0, len(names) - 1, num).round().astype(int)]
    cols = 2 + len(models)
    fig, axes = plt.subplots(num, cols, figsize=(2 * cols, 2 * num), squeeze=False)
    for row, name in zip(axes, names):
        img = cv2.imread(osp.join(data, 'img_dir/rgb', name + '.png'))[..., ::-1]
        gt = cv2.imread(osp.join(data, 'ann_dir', name + '.png'), cv2.IMREAD_UNCHANGED)
        panels = [(img, f'image (RGB)\n{name}'), (colourise(gt, palette), 'ground truth')]
        for method, mcfg, model in models:
            res = inference_model(model, osp.join(data, mcfg.img_prefix, name + mcfg.img_suffix))
            pred = res.pred_sem_seg.data[0].cpu().numpy().astype(np.int64)
            pred[gt == 255] = 255  # not evaluated (nodata): white as in the GT
            panels.append((colourise(pred, palette), method))
        for ax, (im, title) in zip(row, panels):
            ax.imshow(im, interpolation='nearest')
            ax.set_title(title, fontsize=7)
            ax.axis('off')
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette[i] / 255)
               for i in range(len(meta['classes']))]
    fig.legend(handles, meta['classes'], loc='lower center', ncol=3, fontsize=7)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
