"""BoundaryIoUMetric against the reference formula, and in a config's evaluator.

Reference: Boundary IoU (Cheng, Girshick, Dollár, Berg, Kirillov, CVPR 2021),
code bowenc0221/boundary-iou-api at commit
8006aa98e931ee410dbb1fede30271d5bc859769, file
``boundary_iou/utils/boundary_utils.py``, function ``mask_to_boundary``:
pad the binary mask with one pixel of 0, erode it ``d`` times with a 3x3
square of ones (``d = max(1, int(round(0.02 * image diagonal)))``), crop the
padding off, boundary = mask - erosion. Boundary IoU of a class =
|(G_d & G) & (P_d & P)| / |(G_d & G) | (P_d & P)|. ``reference_boundary`` below
writes that out with the same OpenCV calls, one class at a time, so the
metric's one-pass implementation is checked against it pixel for pixel.
"""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.structures import PixelData
from mmseg.registry import METRICS
from mmseg.structures import SegDataSample

from semiearth.evaluation import boundary_areas, boundary_band, class_boundaries

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
IGNORE = 255


def reference_boundary(mask: np.ndarray, dilation_ratio: float = 0.02) -> np.ndarray:
    """``mask_to_boundary`` of the reference, as written there."""
    h, w = mask.shape
    dilation = int(round(dilation_ratio * np.sqrt(h ** 2 + w ** 2)))
    if dilation < 1:
        dilation = 1
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), dtype=np.uint8), iterations=dilation)
    return mask - eroded[1:h + 1, 1:w + 1]


def reference_biou(pairs, num_classes, dilation_ratio=0.02):
    """Per-class Boundary IoU over ``pairs`` of (pred, gt), intersections and
    unions summed over images; ignored ground truth is in neither mask."""
    inter = np.zeros(num_classes)
    union = np.zeros(num_classes)
    for pred, gt in pairs:
        for k in range(num_classes):
            g = reference_boundary((gt == k).astype(np.uint8), dilation_ratio).astype(bool)
            p = reference_boundary(((pred == k) & (gt != IGNORE)).astype(np.uint8),
                                   dilation_ratio).astype(bool)
            inter[k] += (g & p).sum()
            union[k] += (g | p).sum()
    with np.errstate(divide='ignore', invalid='ignore'):
        return inter / union


def metric_biou(pairs, num_classes, dilation_ratio=0.02):
    areas = np.sum([boundary_areas(p, g, num_classes, dilation_ratio) for p, g in pairs], 0)
    inter, g_area, p_area = areas.astype(np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        return inter / (g_area + p_area - inter)


def sample(pred, gt):
    s = SegDataSample()
    s.pred_sem_seg = PixelData(data=torch.as_tensor(pred, dtype=torch.long)[None])
    s.gt_sem_seg = PixelData(data=torch.as_tensor(gt, dtype=torch.long)[None])
    return s.to_dict()


def random_pairs(rng, n, num_classes):
    """Blocky masks of random sizes (odd, thin, 1-px), ignored pixels, and
    predictions that differ in blobs and single pixels."""
    pairs = []
    for i in range(n):
        h, w = (int(v) for v in rng.integers(3, 160, 2))
        cell = int(rng.integers(1, 12))
        coarse = rng.integers(0, num_classes, (h // cell + 1, w // cell + 1)).astype(np.uint8)
        gt = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_NEAREST).astype(np.int64)
        pred = np.where(rng.random((h, w)) < 0.15, rng.integers(0, num_classes, (h, w)), gt)
        pred = np.roll(pred, int(rng.integers(-2, 3)), axis=int(rng.integers(0, 2)))
        if i % 3:
            gt[rng.random((h, w)) < 0.1] = IGNORE
        pairs.append((pred, gt))
    return pairs


def test_parity_with_the_reference_on_random_masks():
    rng = np.random.default_rng(0)
    pairs = random_pairs(rng, 60, 5)
    for ratio in (0.02, 0.05):
        ref = reference_biou(pairs, 5, ratio)
        got = metric_biou(pairs, 5, ratio)
        assert np.isfinite(ref).all()
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)


def test_parity_with_the_reference_on_nc_landsat_masks(nc_data):
    """Real label masks (with their nodata border), upsampled x4 as the
    pipelines do (d = 4); the prediction is another real mask: the next
    tile's, or the same one shifted by a few pixels."""
    files = sorted(glob.glob(osp.join(nc_data, 'ann_dir', '*.png')))[:48]
    assert len(files) >= 8
    masks = [cv2.resize(cv2.imread(f, cv2.IMREAD_UNCHANGED), None, fx=4, fy=4,
                        interpolation=cv2.INTER_NEAREST).astype(np.int64) for f in files]
    assert any((m == IGNORE).any() for m in masks), 'no nodata pixel in the sample'
    pairs = [(masks[(i + 1) % len(masks)] if i % 2 else np.roll(m, (3, -2), (0, 1)), m)
             for i, m in enumerate(masks)]
    pairs = [(np.where(p == IGNORE, 0, p), g) for p, g in pairs]  # a model never says 255
    ref, got = reference_biou(pairs, 6), metric_biou(pairs, 6)
    assert np.isfinite(ref).sum() >= 4
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)


def test_metric_returns_percent_per_class_and_mean():
    rng = np.random.default_rng(1)
    pairs = random_pairs(rng, 6, 4)
    metric = METRICS.build(dict(type='BoundaryIoUMetric'))
    metric.dataset_meta = dict(classes=['a', 'b', 'c', 'd'])
    metric.process({}, [sample(p, g) for p, g in pairs])
    out = metric.evaluate(len(pairs))
    ref = reference_biou(pairs, 4) * 100
    for name, value in zip('abcd', ref):
        assert out[f'BoundaryIoU.{name}'] == pytest.approx(value, abs=0.005)
    assert out['mBoundaryIoU'] == pytest.approx(np.nanmean(ref), abs=0.01)


def test_ignored_pixels_count_nowhere_and_mismatched_sizes_fail():
    gt = np.zeros((40, 40), np.int64)
    gt[:, 20:] = 1
    perfect = gt.copy()
    gt_ign = gt.copy()
    gt_ign[:10] = IGNORE
    wrong_there = perfect.copy()
    wrong_there[:10] = 1 - wrong_there[:10]   # errors only where the truth is ignored
    a = boundary_areas(wrong_there, gt_ign, 2)
    assert (a[0] == a[1]).all() and (a[1] == a[2]).all()   # Boundary IoU 1 per class
    with pytest.raises(ValueError, match='differ in size'):
        boundary_areas(perfect[:, :30], gt, 2)


def test_band_is_the_union_of_class_boundaries_and_ignores_the_border():
    gt = np.zeros((50, 60), np.int64)
    gt[:, 30:] = 2
    gt[:5, :5] = IGNORE
    band = boundary_band(torch.as_tensor(gt)[None], width=3)[0].numpy()
    cols = np.flatnonzero(band.any(0))
    assert cols.tolist() == list(range(27, 33))      # 3 px each side of the edge
    assert not band[gt == IGNORE].any()
    # Boundary IoU's version also marks the border and the ignored block
    full = class_boundaries(gt, 3, outside_is_boundary=True)
    assert full[0, 5:].all() and full[:, -1].all() and full[5:8, 2].all()
    assert (boundary_band(gt) == class_boundaries(gt, 2, outside_is_boundary=False)).all()


@pytest.mark.parametrize('base', ['nc_landsat.py', 'rs_518x518.py'])
def test_dataset_base_configs_report_boundary_iou_beside_miou(base):
    """The evaluator as the dataset bases configure it (the list of two
    metrics), built the way the Runner builds it, on a few samples."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', '_base_', 'datasets', base))
    assert cfg.val_evaluator == cfg.test_evaluator
    evaluator = Evaluator(list(cfg.val_evaluator))
    classes = [f'class{i}' for i in range(6)]
    evaluator.dataset_meta = dict(classes=classes, palette=[[0, 0, 0]] * 6)
    rng = np.random.default_rng(2)
    pairs = [(p % 6, np.where(g == IGNORE, g, g % 6)) for p, g in random_pairs(rng, 4, 6)]
    for p, g in pairs:
        evaluator.process([sample(p, g)], {})
    out = evaluator.evaluate(len(pairs))
    assert 0 <= out['mIoU'] <= 100 and 'IoU.class0' in out
    ref = reference_biou(pairs, 6) * 100
    assert out['mBoundaryIoU'] == pytest.approx(np.nanmean(ref), abs=0.01)


def test_slide_inference_gives_the_metric_the_whole_image():
    """A segmentor in mmseg's slide mode (windows smaller than the image, as
    the zoo configs test) hands the metric one full-size prediction, so ``d``
    is the whole image's (here round(0.02 * hypot(80, 100)) = 3), not a
    window's (1)."""
    from mmengine.config import ConfigDict
    from mmseg.registry import MODELS
    model = MODELS.build(dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0.0] * 3, std=[1.0] * 3),
        backbone=dict(type='ResNetV1c', depth=18, num_stages=2, out_indices=(1,),
                      dilations=(1, 1), strides=(1, 2), norm_cfg=dict(type='BN')),
        decode_head=dict(type='FCNHead', in_channels=128, in_index=0, channels=8,
                         num_convs=1, concat_input=False, num_classes=3,
                         norm_cfg=dict(type='BN')),
        test_cfg=ConfigDict(mode='slide', crop_size=(32, 32), stride=(24, 24))))
    model.eval()
    gt = np.zeros((80, 100), np.int64)
    gt[:, 50:] = 1
    s = SegDataSample(metainfo=dict(img_shape=(80, 100), ori_shape=(80, 100)))
    s.gt_sem_seg = PixelData(data=torch.as_tensor(gt)[None])
    batch = dict(inputs=[torch.rand(3, 80, 100) * 255], data_samples=[s])
    with torch.no_grad():
        out = model.test_step(batch)
    assert out[0].pred_sem_seg.data.shape[-2:] == (80, 100)
    metric = METRICS.build(dict(type='BoundaryIoUMetric'))
    metric.dataset_meta = dict(classes=['a', 'b', 'c'])
    metric.process(batch, [o.to_dict() for o in out])
    pred = out[0].pred_sem_seg.data[0].numpy()
    expected = boundary_areas(pred, gt, 3)
    assert (metric.results[0] == expected).all()
    # the ground truth's boundary of class 0 is d = 3 columns wide at the edge
    # with class 1, plus the image border
    assert expected[1, 0] == class_boundaries(gt, 3)[gt == 0].sum()
    assert class_boundaries(gt, 3)[40, 45:50].tolist() == [False, False, True, True, True]


def test_benchmark_tool_times_both_metrics_side_by_side(capsys):
    import importlib.util
    path = osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark_metrics.py')
    spec = importlib.util.spec_from_file_location('benchmark_metrics', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    table = tool.main(['--sizes', '64', '--images', '2', '--repeats', '2'])
    row = table[64]
    assert row['d'] == 2 and row['iou_ms'] > 0 and row['boundary_iou_ms'] > 0
    assert row['ratio'] == pytest.approx(row['boundary_iou_ms'] / row['iou_ms'], rel=1e-12)
    assert 0 <= row['mBoundaryIoU'] <= 100 and 0 <= row['mIoU'] <= 100
    assert '"per_size"' in capsys.readouterr().out.splitlines()[-1]
