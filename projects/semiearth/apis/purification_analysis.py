"""Pieces of the purification study and visualisation: the teacher's real
pseudo-labels on the unlabeled set, VLM evidence for them (the config's
cached / online VLM, or simulated from the ground truth), the pixel
statistics that say whether a rule helped (overall, in the ground truth's
boundary band and in the interior; and, for the soft-weighting S4 hosts DWL
and Mean Teacher, the weight-averaged pseudo-label accuracy), and the reading of the purifier's
decision records (ground truth and nodata looked up, pixels counted)."""
import copy
from typing import Dict, Iterator, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint
from mmseg.registry import MODELS
from torch import Tensor

from ..evaluation import boundary_band
from ..models.losses import DWLWeighting, confidence_mask

IGNORE = 255
#: the two regions of the ground truth the statistics are split into
REGIONS = ('boundary', 'interior')


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


def simulated_evidence(gt: Tensor, num_classes: int,
                       quality: Union[float, Sequence[float]],
                       boundary_px: int = 2, blob_sigma: float = 4.0,
                       confidence: float = 0.9, noise: float = 0.5,
                       seed: int = 0, vlm_seed: Optional[int] = None,
                       random_classes: Sequence[int] = (),
                       random_mask: Optional[Tensor] = None) -> Dict[str, Tensor]:
    """SIMULATED VLM evidence of known quality, made from the ground truth.

    For analysis only, never for training. The simulated VLM (its
    confusions, fixed by ``vlm_seed``; default ``seed``) gives each class
    ``c`` a confusion partner; a share ``1 - quality[c]`` of the pixels of
    class ``c`` (``quality`` one number for every class, or one per class),
    in spatially coherent blobs (smoothed noise, ``blob_sigma`` px), takes
    that partner (as a VLM mistaking shrubland for forest would). Pixels of
    ``random_classes`` take a uniformly random class instead (the VLM knows
    nothing of them), and so do the pixels of ``random_mask`` (B, H, W) (a
    VLM that knows nothing there, e.g. off the class edges). Then pixels
    within ``boundary_px`` of a class edge take the label of a random
    neighbour up to ``boundary_px`` away (0: no boundary noise).
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
    if random_mask is not None:
        is_random |= random_mask.cpu()
    label = torch.where(is_random, random_label, torch.where(wrong, partner[label], label))
    # boundary noise: a random neighbour's label near class edges
    if boundary_px > 0:
        edge = boundary_band(gt.cpu(), width=boundary_px)
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


def pixel_stats(label: Tensor, accept: Tensor, gt: Tensor, band: Tensor,
                teacher_label: Optional[Tensor] = None) -> Dict[str, int]:
    """Counts over pixels with ground truth, overall and per region of
    ``REGIONS`` (``band``: the ground truth's boundary band, see
    :func:`semiearth.evaluation.boundary_band`; the rest is the interior),
    summed over batches by the caller. ``changed``: relabelled pixels
    (``label != teacher_label``)."""
    has = gt != IGNORE
    right = (label == gt) & has
    changed = label != (label if teacher_label is None else teacher_label)
    out = {}
    for prefix, where in (('', has), ('boundary_', band & has), ('interior_', ~band & has)):
        out.update({f'{prefix}pixels': int(where.sum()),
                    f'{prefix}accepted': int((accept & where).sum()),
                    f'{prefix}accepted_right': int((accept & right & where).sum()),
                    f'{prefix}right': int((right & where).sum()),
                    f'{prefix}changed': int((changed & where).sum())})
    return out


def summarize(counts: Dict[str, int]) -> Dict[str, Optional[float]]:
    """Shares and accuracies from :func:`pixel_stats` counts (None: no pixel):
    ``mask_ratio`` (accepted share), ``acc`` (accuracy of the accepted
    pixels), ``all_acc`` (of all pixels) and ``changed`` (relabelled share),
    overall and ``_boundary`` / ``_interior``."""
    def ratio(a, b):
        return round(counts[a] / counts[b], 4) if counts[b] else None
    out = dict(accepted_share=ratio('accepted', 'pixels'),
               accepted_acc=ratio('accepted_right', 'accepted'),
               all_acc=ratio('right', 'pixels'),
               correct_accepted_share=ratio('accepted_right', 'pixels'),
               wrong_accepted_share=round((counts['accepted'] - counts['accepted_right'])
                                          / counts['pixels'], 4) if counts['pixels'] else None)
    for r in REGIONS:
        out.update({f'mask_ratio_{r}': ratio(f'{r}_accepted', f'{r}_pixels'),
                    f'acc_{r}': ratio(f'{r}_accepted_right', f'{r}_accepted'),
                    f'all_acc_{r}': ratio(f'{r}_right', f'{r}_pixels'),
                    f'changed_{r}': ratio(f'{r}_changed', f'{r}_pixels')})
    out['boundary_share'] = ratio('boundary_pixels', 'pixels')
    return out


# --------------------------------------------------- soft-weighting hosts
#: what each soft-weighting S4 host multiplies a pixel's loss with: DWL's
#: class-bin weight, Mean Teacher's confidence mask per pixel and its
#: batch-mean form (the anchor's default)
SOFT_HOSTS = ('dwl', 'mt_pixel', 'mt_batch')


class SoftHostWeights:
    """The per-pixel weights DWL and Mean Teacher would give one stream of
    pseudo-labels (one evidence source and rule), batch after batch.

    DWL (:class:`semiearth.models.losses.DWLWeighting`, the anchor's settings:
    50-batch memories of 64 x 64-downsampled confidences, 20 bins): each batch
    is pushed into the class memories, then weighed against them, as one
    training step does; the memories are therefore built from this stream's
    own confidences (the teacher's for no purifier, the purified ones after a
    rule), and the first batches see a memory of few batches. The curve's
    sharpness is that of training progress ``dwl_progress`` (``iters /
    total_iters``: ``k = 20 * progress + 2``); the warm-up (no loss in the
    first 50 iterations) is not applied, the study measures the active loss.

    Mean Teacher (:func:`semiearth.models.losses.confidence_mask`): the target
    is the teacher's distribution ``probs``, so a pixel the rule relabelled is
    left out (as :class:`semiearth.models.MeanTeacher` does), the others count
    where ``conf >= mt_thresh`` (``mt_pixel``), or all count with the batch's
    share of confident pixels (``mt_batch``).
    """

    #: schedule length the progress is expressed in (only the ratio matters)
    TOTAL_ITERS = 10_000

    def __init__(self, num_classes: int, dwl_progress: float = 0.5,
                 mt_thresh: float = 0.97) -> None:
        if not 0 <= dwl_progress <= 1:
            raise ValueError(f'SoftHostWeights dwl_progress must be in [0, 1] (iters / '
                             f'total_iters), got {dwl_progress}')
        if not 0 <= mt_thresh < 1:
            raise ValueError(f'SoftHostWeights mt_thresh must be in [0, 1), got {mt_thresh}')
        self.dwl = DWLWeighting(num_classes, warmup_iters=-1)
        self.iters = round(dwl_progress * self.TOTAL_ITERS)
        self.mt_thresh = mt_thresh

    @torch.no_grad()
    def __call__(self, probs: Tensor, label: Tensor, conf: Tensor,
                 valid: Tensor) -> Dict[str, Tensor]:
        """``{host: (B, H, W) weights}`` of one batch (``probs``: the
        teacher's ``(B, C, H, W)``; ``label`` / ``conf``: the stream's;
        ``valid``: real, non-padding pixels)."""
        self.dwl.to(conf.device)
        return dict(
            dwl=self.dwl(label, conf, valid, self.iters, self.TOTAL_ITERS),
            mt_pixel=confidence_mask(probs, label, conf, valid, self.mt_thresh, True),
            mt_batch=confidence_mask(probs, label, conf, valid, self.mt_thresh, False))


def weighted_stats(weights: Dict[str, Tensor], label: Tensor,
                   gt: Tensor) -> Dict[str, float]:
    """Per host, ``w_<host>`` = sum of the weights and ``w_right_<host>`` =
    sum of the weights of right pseudo-labels, over pixels with ground truth;
    summed over batches by the caller (:func:`summarize_weighted`)."""
    has = gt != IGNORE
    right = (label == gt) & has
    out = {}
    for host, w in weights.items():
        w = w.double()
        out[f'w_{host}'] = float((w * has).sum())
        out[f'w_right_{host}'] = float((w * right).sum())
    return out


def summarize_weighted(counts: Dict[str, float], pixels: int) -> Dict[str, Optional[float]]:
    """From :func:`weighted_stats` sums: per host ``weighted_acc_<host>``
    (``sum w * right / sum w``; None when every weight is 0) and
    ``mean_weight_<host>`` (``sum w / pixels``, the loss mass the host keeps)."""
    out = {}
    for host in SOFT_HOSTS:
        w = counts.get(f'w_{host}', 0.0)
        out[f'weighted_acc_{host}'] = round(counts[f'w_right_{host}'] / w, 4) if w > 0 else None
        out[f'mean_weight_{host}'] = round(w / pixels, 4) if pixels else None
    return out


# ------------------------------------------------------- decision records
#: transforms that load an image and its per-image fields without moving a
#: pixel: a record's source coordinates index their output directly
SOURCE_STEPS = ('LoadRSImageFromFile', 'LoadImageFromFile', 'LoadAnnotations',
                'CheckSegLabels', 'AddValidMask')


class SourceLookup:
    """Ground truth and nodata of the images a record's views came from.

    The purifier sees neither; a record keeps each view pixel's source
    coordinates, and this reads the source image through the loading steps
    of the config's own training pipelines (``SOURCE_STEPS``: loading,
    labels, ``AddValidMask``'s nodata mask) and picks those pixels. Images
    are found by file name in the unlabeled, then the labeled split.
    """

    def __init__(self, cfg: Config) -> None:
        from mmseg.registry import DATASETS

        from ..vlm.evidence_cache import cache_key
        data = cfg.train_dataloader.dataset
        parts = [data[p] for p in ('unlabeled', 'labeled') if p in data] or [data]
        self.index = {}
        for part in parts:
            steps = []
            for t in part.pipeline:
                if t['type'] not in SOURCE_STEPS:
                    break
                steps.append(t)
            ds = DATASETS.build(dict(copy.deepcopy(part), pipeline=steps))
            for i in range(len(ds)):
                self.index.setdefault(cache_key(ds.get_data_info(i)['img_path']), (ds, i))
        self._key = cache_key

    def source(self, img_path: str):
        """``(valid (H, W) bool, gt (H, W) int64 or None)`` of the whole image."""
        key = self._key(img_path)
        if key not in self.index:
            raise KeyError(f"'{img_path}' is in neither split of the config: render records "
                           'with the config of the run that wrote them')
        ds, i = self.index[key]
        res = ds[i]
        valid = res.get('valid_mask', np.ones(res['img'].shape[:2], np.uint8)).astype(bool)
        gt = res.get('gt_seg_map')
        return valid, None if gt is None else gt.astype(np.int64)

    def view(self, record: dict):
        """``(valid, gt)`` in the record's view pixels: padding and nodata are
        not valid; ``gt`` is None where the dataset has no labels or the
        record no source coordinates."""
        shape = record['decision'].shape
        if 'src_coords' not in record:
            return np.ones(shape, bool), None
        valid_src, gt_src = self.source(record['img_path'])
        x, y = record['src_coords']
        h, w = valid_src.shape
        inside = (x >= 0) & (y >= 0) & (x < w) & (y < h)
        xs, ys = np.clip(x, 0, w - 1), np.clip(y, 0, h - 1)
        valid = inside & valid_src[ys, xs]
        gt = None if gt_src is None else np.where(inside, gt_src[ys, xs], IGNORE)
        return valid, gt


def decision_right(record: dict, gt: np.ndarray) -> np.ndarray:
    """Whether each pixel's decision moved towards the truth: a lowered
    confidence is right where the label is wrong; every other decision
    (kept, relabelled, raised, no evidence) where the final label is right."""
    from ..models.purifiers.decision_record import LOWERED
    label_right = record['label'].astype(np.int64) == gt
    return np.where(record['decision'] == LOWERED, ~label_right, label_right)


def record_counts(record: dict, valid: np.ndarray, gt: Optional[np.ndarray]) -> dict:
    """Counts of one record over its counted pixels: valid (no padding, no
    nodata) and, where ground truth exists, not ignored. Per decision
    (pixels, share, and with ground truth right / wrong), per teacher class
    and decision, and the accepted share before / after purification."""
    counted = valid & (gt != IGNORE) if gt is not None else valid.copy()
    n = int(counted.sum())
    dec, names = record['decision'], record['decisions']
    right = decision_right(record, gt) if gt is not None else None
    per_decision = {}
    for code, name in enumerate(names):
        where = counted & (dec == code)
        row = dict(pixels=int(where.sum()), share=round(float(where.sum()) / n, 4) if n else None)
        if right is not None:
            row.update(right=int((where & right).sum()), wrong=int((where & ~right).sum()))
        per_decision[name] = row
    per_class = {c: {name: int((counted & (record['teacher_label'] == k) & (dec == code)).sum())
                     for code, name in enumerate(names)}
                 for k, c in enumerate(record['classes'])}
    before = record['teacher_conf'].astype(np.float32) >= record['thresh'].astype(np.float32)
    return dict(pixels=n, excluded=dict(
        nodata_or_padding=int((~valid).sum()),
        ignore=int((valid & (gt == IGNORE)).sum()) if gt is not None else 0),
        decisions=per_decision, per_class=per_class,
        accepted_before=round(float((before & counted).sum()) / n, 4) if n else None,
        accepted_after=round(float((record['accepted'] & counted).sum()) / n, 4) if n else None)
