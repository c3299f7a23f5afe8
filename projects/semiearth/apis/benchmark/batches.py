"""The step benchmark's batches: the config's own (its train dataloader), or
random ones shaped as its dataloader collates them (``--fake-data``), with
the whole fake images by name for the write-through evidence cache."""
import copy

import torch
from mmengine.runner import Runner
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from ...vlm.dataset_images import normalize_image
from ...vlm.evidence_cache import cache_key

BRANCHES = ('sup', 'unsup_weak', 'unsup_strong')


def unlabeled_layout(cfg) -> dict:
    """What the unlabeled pipeline packs beside the image: the per-pixel
    fields (``gt_sem_seg`` from LoadAnnotations, ``valid_mask`` from
    AddValidMask, ``src_coords`` from AddSourceCoords) and whether the strong
    view is float32 (it is after the photometric transforms; a real one stays
    uint8 in the rare case that none of them fired, which the data
    preprocessor's cast makes irrelevant). A config without a readable
    unlabeled pipeline gets everything."""
    dataset = cfg.train_dataloader.get('dataset') or {}
    pipeline = (dataset.get('unlabeled') or {}).get('pipeline') if \
        isinstance(dataset, dict) else None
    if not pipeline:
        return dict(gt=True, valid_mask=True, src_coords=True, strong_float=True)
    types = [t.get('type') for t in pipeline]
    branch = next((t for t in pipeline if t.get('type') == 'MultiBranch'), {})
    strong = branch.get('unsup_strong') or []
    strong = strong if isinstance(strong, (list, tuple)) else [strong]
    return dict(gt='LoadAnnotations' in types, valid_mask='AddValidMask' in types,
                src_coords='AddSourceCoords' in types,
                strong_float=any(t.get('type') != 'PackSemiSegInputs' for t in strong))


class FakeBatches:
    """``batches[step]``: the random batch of a step, made on demand (the
    same for every variant; seeded by the step), with ``branches`` (every
    branch the timed methods read)."""

    def __init__(self, kind, batch_size, num_labeled, crop, bands, classes, layout,
                 branches=BRANCHES):
        self.kind, self.batch_size, self.num_labeled = kind, batch_size, num_labeled
        self.crop, self.bands, self.classes, self.layout = crop, bands, classes, layout
        self.branches = tuple(branches)

    def __getitem__(self, step: int) -> dict:
        return fake_batch(self.kind, self.batch_size, self.num_labeled, self.crop,
                          self.bands, self.classes, self.layout, seed=step,
                          branches=self.branches)


def _sample(name, h, w, gen, classes, gt=True, valid_mask=False, src_coords=False):
    sample = SegDataSample(metainfo=dict(
        reduce_zero_label=False, flip=False, scale_factor=(1.0, 1.0),
        seg_map_path=f'fake/ann/{name}.png', img_path=f'fake/img/{name}.png',
        ori_shape=(h, w), flip_direction=None, img_shape=(h, w)))
    if gt:
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, classes, (1, h, w), generator=gen, dtype=torch.int64))
    if valid_mask:
        sample.set_field(PixelData(data=torch.ones(1, h, w, dtype=torch.uint8)),
                         'valid_mask')
    if src_coords:
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                                torch.arange(w, dtype=torch.float32), indexing='ij')
        sample.set_field(PixelData(data=torch.stack([xs, ys])), 'src_coords')
    return sample


def fake_batch(kind, batch_size, num_labeled, crop, bands, classes, layout=None,
               seed=0, branches=BRANCHES) -> dict:
    """A random batch shaped as the config's dataloader collates one.

    Supervised: ``{'inputs': [uint8 (C, H, W)] * B, 'data_samples':
    [SegDataSample with gt_sem_seg int64 (1, H, W)] * B}``. Semi-supervised:
    ``{'inputs': {branch: [tensor|None] * B}, 'data_samples': {branch:
    [sample|None] * B}}`` for each of ``branches`` (default ``sup``,
    ``unsup_weak``, ``unsup_strong``; UniMatch's and UniMatch V2's also
    ``unsup_strong2``); the first ``num_labeled`` items are labeled (only
    ``sup``), the rest unlabeled (weak uint8 and each strong view of the
    same image, with the
    fields of ``layout``: identity ``src_coords`` (2, H, W) float32, an
    all-ones ``valid_mask`` (1, H, W) uint8). Every image is a whole crop
    whose file name (``img_path``) is unique to ``seed`` and its index.
    """
    layout = layout or dict(gt=True, valid_mask=True, src_coords=True, strong_float=True)
    gen = torch.Generator().manual_seed(seed)
    h, w = crop

    def image():
        return torch.randint(0, 256, (bands, h, w), generator=gen, dtype=torch.uint8)

    if kind == 'supervised':
        return dict(inputs=[image() for _ in range(batch_size)],
                    data_samples=[_sample(f'fake_s{seed:04d}_i{i:03d}', h, w, gen, classes)
                                  for i in range(batch_size)])
    branches = tuple(dict.fromkeys(('sup', 'unsup_weak', *branches)))
    strong = [b for b in branches if b.startswith('unsup_strong')]
    inputs = {b: [None] * batch_size for b in branches}
    samples = {b: [None] * batch_size for b in branches}
    for i in range(batch_size):
        name = f'fake_s{seed:04d}_i{i:03d}'
        img = image()
        if i < num_labeled:
            inputs['sup'][i] = img
            samples['sup'][i] = _sample(name, h, w, gen, classes)
            continue
        sample = _sample(name, h, w, gen, classes, gt=layout['gt'],
                         valid_mask=layout['valid_mask'], src_coords=layout['src_coords'])
        inputs['unsup_weak'][i] = img
        samples['unsup_weak'][i] = sample
        for b in strong:
            inputs[b][i] = img.float() if layout['strong_float'] else img.clone()
            samples[b][i] = copy.deepcopy(sample)
    return dict(inputs=inputs, data_samples=samples)


def real_batches(cfg, n: int) -> list:
    """The first ``n`` batches of the config's train dataloader (no workers)."""
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.update(num_workers=0, persistent_workers=False)
    it = iter(Runner.build_dataloader(loader_cfg, seed=0))
    return [next(it) for _ in range(n)]


class FakeImages:
    """The whole unlabeled fake images by path, normalised (the image source
    of ``evidence='auto'`` on fake data)."""

    def __init__(self, cfg, batches) -> None:
        self.cfg, self.batches = cfg, batches

    def __call__(self, img_path: str) -> torch.Tensor:
        # names are fake_s<step>_i<index> (fake_batch)
        step, index = cache_key(img_path)[len('fake_s'):].split('_i')
        img = self.batches[int(step)]['inputs']['unsup_weak'][int(index)]
        return normalize_image(img.permute(1, 2, 0).numpy(), self.cfg)
