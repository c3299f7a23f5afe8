"""The semi-supervised methods behind SemiEarthSegmentor's one slot:
the base config spells out every setting, every registered method honours
the purifier contract, each method's loss equals its anchor's formula, and
every method's configs parse and train two iterations on CPU."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from conftest import ROOT


def test_base_config_spells_out_every_semi_train_cfg_default():
    """configs/_base_/models/semi_fixmatch.py lists every key the segmentor
    knows with the segmentor's own default (mmdet's semi configs spell the
    settings out); an unknown key is an error naming the known ones."""
    from semiearth.models.segmentors.semiearth_segmentor import DEFAULT_TRAIN_CFG
    base = Config.fromfile(osp.join(ROOT, 'configs/_base_/models/semi_fixmatch.py'))
    spelled = {k: tuple(v) if isinstance(v, list) else v
               for k, v in base.semi_train_cfg.items()}
    assert spelled == DEFAULT_TRAIN_CFG
    assert base.semi_method == dict(type='FixMatch')
    with pytest.raises(ValueError, match=r"unknown semi_train_cfg keys \['conf'\]; known: .*conf_thresh"):
        MODELS.build(dict(type='SemiEarthSegmentor', segmentor=_TINY, semi_train_cfg=dict(conf=0.9)))


# a tiny segmentor (a ResNet-free two-level backbone is not in mmseg; the
# smallest mmseg backbone that gives a multi-level list is used in the
# method tests below)
_TINY = dict(
    type='EncoderDecoder',
    backbone=dict(type='MobileNetV2', widen_factor=0.25, strides=(1, 2, 2, 2, 1, 1, 1),
                  out_indices=(1, 6), norm_cfg=dict(type='BN')),
    decode_head=dict(type='DepthwiseSeparableASPPHead', in_channels=80, in_index=1,
                     channels=16, dilations=(1, 2), c1_in_channels=8, c1_channels=8,
                     dropout_ratio=0.0, num_classes=4, align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True)),
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[0.0] * 3, std=[1.0] * 3),
    train_cfg=dict(), test_cfg=dict(mode='whole'))
