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


# ------------------------------------------------------- safe loading
class _Payload:
    """Unpickling this runs os.makedirs(path): a stand-in for any code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        import os
        return os.makedirs, (self.path,)


class _FileWriter:
    """Unpickling this would write a file through getattr(ndarray, 'tofile')."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        import numpy as np
        arr = np.zeros(4, dtype=np.uint8)
        return getattr(np.ndarray, 'tofile'), (arr, self.path)


@pytest.mark.parametrize('payload', [_Payload, _FileWriter])
def test_checkpoint_with_a_payload_is_refused_and_never_runs(tmp_path, payload, monkeypatch):
    """Through every MMEngine load (load_from, --resume, Pretrained, test.py
    all use mmengine.runner.checkpoint): refused with the file, the global and
    the opt-in named; the payload does not run. Listed in
    SEMIEARTH_TRUSTED_CHECKPOINTS, the same file loads with full pickle."""
    from mmengine.runner.checkpoint import _load_checkpoint
    from semiearth.compat import TRUSTED_ENV, UnsafeCheckpointError
    marker = tmp_path / 'payload_ran'
    path = tmp_path / 'evil.pth'
    torch.save({'meta': {'x': payload(str(marker))}, 'state_dict': {'w': torch.ones(1)}}, path)
    monkeypatch.delenv(TRUSTED_ENV, raising=False)
    with pytest.raises(UnsafeCheckpointError,
                       match=r"evil\.pth.*(os\.makedirs|posix\.makedirs|getattr).*"
                             r"SEMIEARTH_TRUSTED_CHECKPOINTS"):
        _load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()
    # another file listed as trusted does not vouch for this one
    monkeypatch.setenv(TRUSTED_ENV, str(tmp_path / 'other.pth'))
    with pytest.raises(UnsafeCheckpointError):
        _load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()
    monkeypatch.setenv(TRUSTED_ENV, str(path))
    _load_checkpoint(str(path), map_location='cpu')
    assert marker.exists()  # trusted: full pickle, as the user asked


def test_mmseg_zoo_style_and_plain_checkpoints_load(tmp_path):
    """What upstream files hold: an mmseg 1.x checkpoint (meta with numpy
    scalars, dataset_meta, a message hub), an old mmcv-era one (CLASSES,
    PALETTE, env_info) and a bare state dict."""
    import collections
    import numpy as np
    from mmengine.logging import HistoryBuffer
    from mmengine.runner.checkpoint import _load_checkpoint
    sd = collections.OrderedDict(w=torch.ones(2), b=torch.zeros(1, dtype=torch.long))
    files = {
        'mmseg1.pth': {'meta': {'dataset_meta': {'classes': ('a', 'b'), 'palette': [[1, 2, 3]]},
                                'seed': np.int64(3), 'best': np.float64(0.5), 'iter': 10},
                       'state_dict': sd, 'message_hub': {
                           'log_scalars': {'loss': HistoryBuffer([1.0], [1])},
                           'runtime_info': {'arr': np.arange(3)}}},
        'mmcv0.pth': {'meta': {'CLASSES': ('a', 'b'), 'PALETTE': [[1, 2, 3]],
                               'env_info': 'sys.platform: linux', 'config': 'x = 1'},
                      'state_dict': sd},
        'bare.pth': sd,
    }
    for name, obj in files.items():
        torch.save(obj, tmp_path / name)
        got = _load_checkpoint(str(tmp_path / name), map_location='cpu')
        got_sd = got.get('state_dict', got)
        assert torch.equal(got_sd['w'], sd['w']), name
    got = _load_checkpoint(str(tmp_path / 'mmseg1.pth'), map_location='cpu')
    assert got['meta']['seed'] == 3 and got['message_hub']['log_scalars']['loss'].mean() == 1


def test_history_buffer_checkpoint_loads_in_a_fresh_process(tmp_path):
    """HistoryBuffer registers its statistics methods when the first buffer
    is made; a process that loads a checkpoint before that (a resume) must
    still accept getattr(HistoryBuffer, 'min')."""
    import subprocess
    import sys
    from mmengine.logging import HistoryBuffer
    path = tmp_path / 'c.pth'
    torch.save({'meta': {'buf': HistoryBuffer([1.0, 2.0], [1, 1])}}, path)
    code = ('import semiearth; from mmengine.runner.checkpoint import _load_checkpoint; '
            f'print(_load_checkpoint({str(path)!r})["meta"]["buf"].mean())')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith('1.5'), out.stderr[-2000:]
