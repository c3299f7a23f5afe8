"""Pieces of the purification study and visualisation: the teacher's real
pseudo-labels on the unlabeled set, VLM evidence for them (the config's
cached / online VLM, or simulated from the ground truth), and the pixel
statistics that say whether a rule helped."""
import copy
from typing import Dict, Iterator, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint
from mmseg.registry import MODELS
from torch import Tensor

IGNORE = 255


def build_teacher(cfg: Config, checkpoint: str, device: str = 'cpu'):
    """The config's SemiEarthSegmentor with ``checkpoint`` loaded (a
    SemiEarth checkpoint, or a plain segmentor one: it loads into both)."""
    model_cfg = copy.deepcopy(cfg.model)
    backbone = model_cfg.get('segmentor', {}).get('backbone', {})
    backbone.pop('init_cfg', None)  # the checkpoint brings every weight
    model = MODELS.build(model_cfg)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=False,
                    revise_keys=[(r'^module\.', '')])
    return model.to(device).eval()


def unlabeled_batches(cfg: Config, batch_size: int = 8, limit: Optional[int] = None,
                      part: str = 'unlabeled') -> Iterator[dict]:
    """The unlabeled (or, with ``part='labeled'``, the labeled) split through
    the test pipeline (whole images, resized like the test images, with
    ground truth and source coordinates)."""
    loader = copy.deepcopy(cfg.test_dataloader)
    unl = cfg.train_dataloader.dataset[part]
    ds = loader.dataset
    ds.update(data_root=unl.data_root, ann_file=unl.ann_file,
              data_prefix=unl.data_prefix)
    if 'indices' in unl:
        ds['indices'] = unl['indices']
    # labels are loaded before the resize so that they match the teacher's
    # (resized) prediction pixel for pixel
    steps = list(ds.pipeline)
    labels = [t for t in steps if t['type'] in ('LoadAnnotations', 'CheckSegLabels')]
    others = [t for t in steps[1:-1] if t not in labels]
    ds.pipeline = [steps[0], dict(type='AddSourceCoords'), *labels, *others,
                   dict(type='PackSemiSegInputs')]
    if limit:
        ds['indices'] = limit
    loader.update(batch_size=batch_size, num_workers=0, persistent_workers=False)
    yield from Runner.build_dataloader(loader)


@torch.no_grad()
def teacher_outputs(model, batch: dict) -> dict:
    """Teacher probabilities and what the purifier may see, plus the ground
    truth (for scoring only) of one test-pipeline batch."""
    data = model.data_preprocessor(batch, False)
    inputs, samples = data['inputs'], data['data_samples']
    probs = model._teacher_probs(inputs)
    h, w = probs.shape[-2:]
    gt = torch.full((len(samples), h, w), IGNORE, dtype=torch.long, device=probs.device)
    coords = torch.full((len(samples), 2, h, w), -1.0, device=probs.device)
    for i, s in enumerate(samples):
        g = s.gt_sem_seg.data[0]
        gt[i, :g.shape[0], :g.shape[1]] = g
        c = s.src_coords.data
        coords[i, :, :c.shape[1], :c.shape[2]] = c
    return dict(inputs=inputs, probs=probs, gt=gt, coords=coords,
                metas=[s.metainfo for s in samples])


def boundary_mask(gt: Tensor, k: int) -> Tensor:
    """Pixels within ``k`` px of an edge between two classes of ``gt``
    (B, H, W); ignored pixels are neither a class nor counted."""
    valid = gt != IGNORE
    g = gt[:, None].float()
    hi = F.max_pool2d(torch.where(valid[:, None], g, torch.full_like(g, -1.0)),
                      2 * k + 1, stride=1, padding=k)
    lo = -F.max_pool2d(-torch.where(valid[:, None], g, torch.full_like(g, 1e4)),
                       2 * k + 1, stride=1, padding=k)
    return (hi != lo)[:, 0] & valid


def simulated_evidence(gt: Tensor, num_classes: int,
                       quality: Union[float, Sequence[float]],
                       boundary_px: int = 2, blob_sigma: float = 4.0,
                       confidence: float = 0.9, noise: float = 0.5,
                       seed: int = 0, vlm_seed: Optional[int] = None,
                       random_classes: Sequence[int] = ()) -> Dict[str, Tensor]:
    """SIMULATED VLM evidence of known quality, made from the ground truth.

    For analysis only, never for training. The simulated VLM (its
    confusions, fixed by ``vlm_seed``; default ``seed``) gives each class
    ``c`` a confusion partner; a share ``1 - quality[c]`` of the pixels of
    class ``c`` (``quality`` one number for every class, or one per class),
    in spatially coherent blobs (smoothed noise, ``blob_sigma`` px), takes
    that partner (as a VLM mistaking shrubland for forest would). Pixels of
    ``random_classes`` take a uniformly random class instead (the VLM knows
    nothing of them). Then pixels within ``boundary_px`` of a class edge take
    the label of a random neighbour up to ``boundary_px`` away.
    Probabilities: ``softmax(s * onehot + noise * N(0, 1))`` with ``s`` such
    that a noiseless pixel has max probability ``confidence``. Ignored pixels
    keep their (meaningless) class 0 evidence. ``seed`` draws the blobs, the
    boundary noise and the random labels of one batch.
    """
    g = torch.Generator().manual_seed(seed)
    gv = torch.Generator().manual_seed(seed if vlm_seed is None else vlm_seed)
    b, h, w = gt.shape
    label = gt.clone().cpu()
    label[label == IGNORE] = 0
    # controlled confusions, in blobs: u is the blob field's rank in [0, 1)
    field = torch.randn(b, 1, h, w, generator=g)
    radius = int(3 * blob_sigma)
    xs = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-xs ** 2 / (2 * blob_sigma ** 2))
    kernel = kernel / kernel.sum()
    field = F.conv2d(F.pad(field, (radius,) * 4, mode='reflect'), kernel.view(1, 1, 1, -1))
    field = F.conv2d(field, kernel.view(1, 1, -1, 1))[:, 0]
    u = field.flatten().argsort().argsort().float().view(b, h, w) / field.numel()
    q = torch.as_tensor(quality, dtype=torch.float32).expand(num_classes)
    partner = (torch.arange(num_classes) + 1 + torch.randint(
        0, max(num_classes - 1, 1), (num_classes,), generator=gv)) % num_classes
    wrong = u >= q[label]
    random_label = torch.randint(0, num_classes, (b, h, w), generator=g)
    is_random = torch.isin(label, torch.as_tensor(list(random_classes), dtype=torch.long))
    label = torch.where(is_random, random_label, torch.where(wrong, partner[label], label))
    # boundary noise: a random neighbour's label near class edges
    if boundary_px > 0:
        edge = boundary_mask(gt.cpu(), boundary_px)
        dy = torch.randint(-boundary_px, boundary_px + 1, (b, h, w), generator=g)
        dx = torch.randint(-boundary_px, boundary_px + 1, (b, h, w), generator=g)
        yy = (torch.arange(h).view(1, h, 1) + dy).clamp(0, h - 1)
        xx = (torch.arange(w).view(1, 1, w) + dx).clamp(0, w - 1)
        bb = torch.arange(b).view(b, 1, 1).expand(b, h, w)
        label = torch.where(edge, label[bb, yy, xx], label)
    s = float(np.log(confidence * (num_classes - 1) / (1 - confidence)))
    logits = s * F.one_hot(label, num_classes).permute(0, 3, 1, 2).float() + \
        noise * torch.randn(b, num_classes, h, w, generator=g)
    return dict(probs=logits.softmax(1).to(gt.device), label=label.to(gt.device))


def pixel_stats(label: Tensor, accept: Tensor, gt: Tensor, boundary: Tensor) -> Dict[str, float]:
    """Counts over pixels with ground truth (summed over batches by the caller)."""
    has = gt != IGNORE
    right = (label == gt) & has
    return dict(
        pixels=int(has.sum()), accepted=int((accept & has).sum()),
        accepted_right=int((accept & right).sum()), right=int(right.sum()),
        boundary=int((boundary & has).sum()), boundary_right=int((boundary & right).sum()),
        boundary_accepted=int((boundary & accept & has).sum()),
        boundary_accepted_right=int((boundary & accept & right).sum()))


def summarize(counts: Dict[str, int]) -> Dict[str, Optional[float]]:
    """Shares and accuracies from :func:`pixel_stats` counts (None: no pixel)."""
    def ratio(a, b):
        return round(counts[a] / counts[b], 4) if counts[b] else None
    return dict(accepted_share=ratio('accepted', 'pixels'),
                accepted_acc=ratio('accepted_right', 'accepted'),
                all_acc=ratio('right', 'pixels'),
                boundary_acc=ratio('boundary_right', 'boundary'),
                boundary_accepted_acc=ratio('boundary_accepted_right', 'boundary_accepted'),
                correct_accepted_share=ratio('accepted_right', 'pixels'),
                wrong_accepted_share=round((counts['accepted'] - counts['accepted_right'])
                                           / counts['pixels'], 4) if counts['pixels'] else None)
