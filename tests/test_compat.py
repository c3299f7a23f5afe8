"""The CPU-stack shims of semiearth.compat and semiearth_startup (docs/install.md)."""
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


# ----------------------------------------------- import order (startup hook)
def _run_fresh(code: str, env=None):
    """``code`` in a fresh interpreter of this environment (the start-up hook
    runs as for a user's ``python``), not from the tests' directory."""
    import os
    import subprocess
    return subprocess.Popen([sys.executable, '-W', 'ignore', '-c', code],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=os.path.expanduser('~'), env=env)


def test_startup_hook_is_installed_and_imports_nothing_heavy():
    """The CPU stack's set-up (tools/setup_env.sh) wrote semiearth_startup.pth
    into site-packages; a fresh interpreter has the finder first on
    sys.meta_path and has imported neither torch nor semiearth. pip does not
    install it: setup.py ships no .pth and overrides no setuptools command."""
    import json
    import os.path as osp
    import semiearth_startup as startup
    from conftest import ROOT
    assert osp.isfile(startup.hook_path()), (
        f'{startup.hook_path()} is missing: the CPU stack needs its start-up hook. '
        'Fix: bash tools/setup_env.sh (or python -m semiearth_startup install-hook)')
    assert open(startup.hook_path()).read() == startup.PTH_LINE
    setup_src = open(osp.join(ROOT, 'setup.py')).read()
    assert '.pth' not in setup_src.replace('semiearth_startup.pth', '') \
        and 'cmdclass' not in setup_src
    proc = _run_fresh('import json, sys; print(json.dumps(dict(first=type(sys.meta_path[0])'
                      '.__name__, mods=[m for m in ("torch", "mmcv", "semiearth", '
                      '"semiearth_startup") if m in sys.modules])))')
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert json.loads(out) == dict(first='CPUStackFinder', mods=['semiearth_startup'])


def test_hook_install_and_remove_in_a_given_site_packages(tmp_path):
    """install-hook writes exactly PTH_LINE (once), remove-hook takes it away;
    a hook left behind after the package is gone does nothing (its line
    checks that semiearth_startup exists)."""
    import semiearth_startup as startup
    path = startup.install_hook(str(tmp_path))
    assert path == str(tmp_path / 'semiearth_startup.pth')
    assert open(path).read() == startup.PTH_LINE
    assert startup.install_hook(str(tmp_path)) == path and len(list(tmp_path.iterdir())) == 1
    proc = _run_fresh(f'import sys; sys.modules["semiearth_startup"] = None\n'
                      f'import importlib.util\n'
                      f'importlib.util.find_spec = lambda name: None\n'
                      f'exec({startup.PTH_LINE!r}); print("ok")')
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.strip() == 'ok', err
    assert startup.remove_hook(str(tmp_path)) == path and not tmp_path.joinpath(
        'semiearth_startup.pth').exists()
    assert startup.remove_hook(str(tmp_path)) is None


def _fake_stack(root, full_mmcv: bool):
    """Fake torchvision and mmcv packages under ``root``: torchvision whose
    compiled ops loaded (a torch/torchvision pair built for each other) and
    mmcv as a full install has it (``mmcv._ext``), or like mmcv-lite (no
    ``_ext``) without ``full_mmcv``."""
    files = {
        'torchvision/__init__.py': 'from . import extension, _meta_registrations\n',
        'torchvision/extension.py': 'def _has_ops():\n    return True\n',
        'torchvision/_meta_registrations.py': '',
        'mmcv/__init__.py': '',
        'mmcv/ops/__init__.py': 'REAL_OPS = True\n',
        'mmcv/ops/point_sample.py': ('def point_sample(*a, **k):\n    return "pure"\n'
                                     'bilinear_grid_sample = point_sample\n'),
    }
    if full_mmcv:
        files['mmcv/_ext.py'] = ''
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _check_without_hook(fakes, code=''):
    """``semiearth_startup check`` in an interpreter with no site-packages at
    all (``-S``: no start-up hook, no real torch/torchvision/mmcv), the fakes
    first on sys.path; then ``code``."""
    import os.path as osp
    import subprocess
    from conftest import ROOT
    prog = (f'import sys; sys.path[:0] = [{str(fakes)!r}, {osp.join(ROOT, "projects")!r}]\n'
            'assert not any(getattr(f, "_semiearth_cpu_stack", 0) for f in sys.meta_path)\n'
            'import semiearth_startup as s; s.main(["check"])\n' + code)
    proc = subprocess.run([sys.executable, '-I', '-S', '-c', prog], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_gpu_install_without_hook_has_nothing_to_patch(tmp_path):
    """A GPU install (torchvision loaded its compiled ops, full mmcv) without
    the start-up hook: the shims' own detection patches nothing, and
    ``mmcv.ops`` is mmcv's own package."""
    out = _check_without_hook(
        _fake_stack(tmp_path, full_mmcv=True),
        'import mmcv.ops, torchvision\n'
        'assert mmcv.ops.REAL_OPS and s.APPLIED == [] and s._LIBRARIES == []\n')
    assert '[semiearth_startup] start-up hook: none' in out
    assert 'nothing to patch' in out and 'patched:' not in out


def test_mmcv_lite_stand_in_names_the_fix(tmp_path):
    """With mmcv-lite (no ``_ext``) the check reports the stand-in, and a
    compiled op's error names the fix."""
    out = _check_without_hook(
        _fake_stack(tmp_path, full_mmcv=False),
        'import mmcv.ops\nassert mmcv.ops.point_sample() == "pure"\n'
        'try:\n    from mmcv.ops import CrissCrossAttention\n'
        'except ModuleNotFoundError as e:\n    print("ERROR", e)\n')
    assert f'patched: {__import__("semiearth_startup").MMCV_OPS_SHIM}' in out
    assert 'nothing to patch' not in out
    error = out.split('ERROR ', 1)[1]
    assert 'mmcv.ops.CrissCrossAttention' in error and 'mmcv-lite' in error
    assert 'docs/install.md' in error and 'full mmcv 2.1.0' in error


# what each entry point must be able to do when it is the first import
FIRST_IMPORTS = {
    'open_clip': 'import open_clip; assert "ViT-B-16" in open_clip.list_models()',
    'torchvision': ('import torch, torchvision.transforms.functional as TF; '
                    'x = torch.rand(3, 4, 5); assert torch.equal(TF.hflip(TF.hflip(x)), x)'),
    'init_model': ('from mmseg.apis import init_model; import mmcv.ops; '
                   'assert callable(mmcv.ops.point_sample)'),
    'register_all_modules': ('from mmseg.utils import register_all_modules; '
                             'register_all_modules(); from mmseg.registry import MODELS; '
                             'assert MODELS.get("EncoderDecoder") is not None; '
                             'assert MODELS.get("FocalLoss") is not None'),
}


def test_every_entry_point_imports_first_without_semiearth():
    """`import open_clip`, `import torchvision`, mmseg's init_model and
    register_all_modules (what older mmseg tools/train.py calls before
    reading the config), each first in a fresh interpreter: they import and
    work on the CPU stack (CUDA torchvision beside CPU torch, mmcv-lite), and
    semiearth is not imported by that."""
    check = '; import sys; print("semiearth" in sys.modules)'
    procs = {name: _run_fresh(code + check) for name, code in FIRST_IMPORTS.items()}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f'{name} first: {err[-2000:]}'
        assert out.strip().splitlines()[-1] == 'False', f'{name} imported semiearth'


def test_shims_are_no_ops_where_the_real_component_exists(monkeypatch):
    """A full mmcv (compiled ops) gets its own mmcv.ops; torchvision whose
    compiled ops loaded gets no schema declared; other imports pass by."""
    import semiearth_startup as startup
    import torchvision.extension
    finder = startup.CPUStackFinder()
    assert finder.find_spec('numpy') is None and finder.find_spec('mmcv.cnn') is None
    if not startup.mmcv_has_compiled_ops():
        spec = finder.find_spec('mmcv.ops')
        assert spec.name == 'mmcv.ops' and spec.loader is not None
    monkeypatch.setattr(startup, 'mmcv_has_compiled_ops', lambda: True)
    assert finder.find_spec('mmcv.ops') is None
    monkeypatch.setattr(torchvision.extension, '_has_ops', lambda: True)
    n = len(startup._LIBRARIES)
    assert startup.declare_torchvision_op_schemas() is False
    assert len(startup._LIBRARIES) == n
    monkeypatch.undo()
    # here the compiled ops did not load (CPU torch) and the schemas were
    # declared when torchvision was imported: declaring again does nothing
    if not torchvision.extension._has_ops():
        assert startup._torchvision_op_exists(torch, 'nms')
        assert startup.declare_torchvision_op_schemas() is False
    startup.install()
    assert sum(getattr(f, '_semiearth_cpu_stack', False) for f in sys.meta_path) == 1
