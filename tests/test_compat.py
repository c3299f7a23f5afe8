"""The CPU-stack shims of semiearth.compat (shared/STACK.md)."""
import importlib
import sys

import pytest
import torch


def test_torchvision_imports_and_transforms_work():
    import torchvision.transforms.functional as TF
    x = torch.rand(3, 8, 8)
    assert torch.allclose(TF.hflip(TF.hflip(x)), x)


def test_mmcv_ops_stand_in_exposes_pure_pytorch_point_sample():
    from mmcv.ops import point_sample
    feat = torch.arange(16.).view(1, 1, 4, 4)
    # the centre of pixel (row 1, col 2) in normalised [0, 1] coordinates
    pts = torch.tensor([[[2.5 / 4, 1.5 / 4]]])
    out = point_sample(feat, pts, align_corners=False)
    assert out.shape == (1, 1, 1)
    assert out.item() == pytest.approx(6.0)


def test_mmcv_ops_unknown_name_is_module_not_found():
    import mmcv.ops
    from semiearth.compat import _mmcv_has_compiled_ops
    if _mmcv_has_compiled_ops():
        pytest.skip('full mmcv installed: the stand-in is not used')
    with pytest.raises(ModuleNotFoundError, match='compiled ops'):
        mmcv.ops.DeformConv2d  # noqa: B018
    with pytest.raises(RuntimeError, match='full mmcv'):
        mmcv.ops.sigmoid_focal_loss(torch.zeros(1), torch.zeros(1))


def test_all_mmseg_models_register():
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    for name in ('EncoderDecoder', 'MobileNetV2', 'DepthwiseSeparableASPPHead',
                 'FocalLoss', 'MixVisionTransformer', 'DPTHead',
                 'MultiBandMobileNetV2'):
        assert MODELS.get(name) is not None, name
    assert len(MODELS.module_dict) >= 92


def test_mmengine_checkpoints_with_history_buffers_load(tmp_path):
    from mmengine.logging import HistoryBuffer
    from mmengine.runner.checkpoint import _load_checkpoint
    path = tmp_path / 'c.pth'
    torch.save({'meta': {'buf': HistoryBuffer([1.0, 2.0], [1, 1])},
                'state_dict': {'w': torch.ones(2)}}, path)
    ckpt = _load_checkpoint(str(path), map_location='cpu')
    assert ckpt['meta']['buf'].mean() == pytest.approx(1.5)
    # torch's own safe default is untouched outside mmengine's loader
    with pytest.raises(Exception, match='[Ww]eights only'):
        torch.load(path)


def test_apply_is_idempotent():
    import semiearth.compat as compat
    import mmengine.runner.checkpoint as ckpt
    before = ckpt.torch
    compat.apply()
    importlib.reload(sys.modules['semiearth'])
    assert ckpt.torch is before
