"""Shared fixtures: the real NC Landsat scene converted once per session, the
ImageNet MobileNetV2 weights converted once, and a helper that runs the
project's tools the way a user does."""
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'projects'))
sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))

import semiearth  # noqa: E402,F401
from mmengine.registry import init_default_scope  # noqa: E402

init_default_scope('mmseg')  # as the configs' default_scope does for the runner

SUP_CONFIG = osp.join(
    ROOT, 'configs/supervised/'
    'supervised_deeplabv3plus-mbv2_1xb8-300i_nclandsat-1of8-128x128.py')
FIXMATCH_CONFIG = osp.join(
    ROOT, 'configs/fixmatch/'
    'fixmatch_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py')


@pytest.fixture(scope='session')
def nc_data(tmp_path_factory):
    """The embedded scene converted with default settings into a temp dir."""
    import nc_landsat
    out = str(tmp_path_factory.mktemp('nc_landsat'))
    nc_landsat.convert(nc_landsat.parse_args(['--out', out]))
    return out


@pytest.fixture(scope='session')
def mbv2_ms6(tmp_path_factory):
    """ImageNet MobileNetV2 converted for six input bands."""
    out = str(tmp_path_factory.mktemp('ckpt') / 'mbv2_ms6.pth')
    subprocess.run([sys.executable, 'tools/model_converters/mobilenetv2_torchvision2mmseg.py',
                    out, '--in-channels', '6', '--rgb-channels', '2', '1', '0'],
                   cwd=ROOT, check=True, capture_output=True)
    return out


def data_options(data_root, ckpt=None, semi=False):
    """--cfg-options that point a NC Landsat config at test data."""
    train = (['train_dataloader.dataset.labeled', 'train_dataloader.dataset.unlabeled']
             if semi else ['train_dataloader.dataset'])
    opts = [f'{ds}.data_root={data_root}'
            for ds in train + ['val_dataloader.dataset', 'test_dataloader.dataset']]
    opts += [f'{loader}.num_workers=0' for loader in
             ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    opts += [f'{loader}.persistent_workers=False' for loader in
             ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    if ckpt:
        key = 'model.segmentor.backbone' if semi else 'model.backbone'
        opts.append(f'{key}.init_cfg.checkpoint={ckpt}')
    return opts


def run_tool(args, timeout=600, env=None):
    """Run a command from the repository root; fail the test with its output."""
    full_env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    full_env.update(env or {})
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=full_env)
    if proc.returncode != 0:
        pytest.fail(f'{args} exited {proc.returncode}\n{proc.stdout[-3000:]}\n'
                    f'{proc.stderr[-5000:]}')
    return proc
