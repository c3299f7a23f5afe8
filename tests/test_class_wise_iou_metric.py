"""ClassWiseIoUMetric arithmetic (the configs are tested in test_zoo_configs.py)."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import METRICS, MODELS
from mmseg.structures import SegDataSample

from conftest import ROOT


def _sample(pred, gt):
    s = SegDataSample()
    s.pred_sem_seg = PixelData(data=torch.tensor(pred)[None])
    s.gt_sem_seg = PixelData(data=torch.tensor(gt)[None])
    return s.to_dict()


def test_class_wise_iou_matches_hand_computation():
    metric = METRICS.build(dict(type='ClassWiseIoUMetric', iou_metrics=['mIoU']))
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    pred = np.array([[0, 0, 1, 1], [1, 1, 1, 0]])
    gt = np.array([[0, 1, 1, 1], [1, 255, 255, 0]])
    metric.process([], [_sample(pred, gt)])
    out = metric.evaluate(1)
    # class a: pred {00,01,13} gt {00,13} -> I 2, U 3; class b: pred {02,03,10}
    # (11, 12 ignored) gt {01,02,03,10} -> I 3, U 4; class c: absent -> NaN
    assert out['IoU.a'] == pytest.approx(66.67)
    assert out['IoU.b'] == pytest.approx(75.0)
    assert np.isnan(out['IoU.c'])
    assert out['mIoU'] == pytest.approx((66.67 + 75.0) / 2, abs=0.01)
