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

# digests of weight files (semiearth.vlm.file_digest) go to a temporary
# place, not the user's ~/.cache; tools run by the tests inherit it
import tempfile  # noqa: E402
os.environ.setdefault('SEMIEARTH_CACHE_HOME', tempfile.mkdtemp(prefix='semiearth_cache_'))

import semiearth  # noqa: E402,F401
from mmengine.registry import init_default_scope  # noqa: E402

init_default_scope('mmseg')  # as the configs' default_scope does for the runner


def _memoize_mmseg_config_index():
    """Parsing a config whose ``_base_`` is ``mmseg::...`` makes mmengine read
    all of mmseg's ~50 model-index YAML files to look up each such base, on
    every parse (about 1 s each; for ``mmseg::_base_/...`` files the lookup
    ends in a ValueError that mmengine catches). The suite parses such
    configs about a hundred times: remember each answer, errors included."""
    import mmengine.config.utils as cfg_utils
    lookup = cfg_utils._get_cfg_metainfo
    if getattr(lookup, 'memoized', False):
        return
    answers = {}

    def memoized(package_path: str, cfg_path: str) -> dict:
        key = (package_path, cfg_path)
        if key not in answers:
            try:
                answers[key] = (lookup(package_path, cfg_path), None)
            except ValueError as e:
                answers[key] = (None, e)
        meta, error = answers[key]
        if error is not None:
            raise error
        return meta

    memoized.memoized = True
    cfg_utils._get_cfg_metainfo = memoized


_memoize_mmseg_config_index()


def pytest_addoption(parser):
    parser.addoption(
        '--shuffle-seed', type=int, default=None, metavar='N',
        help='run the tests in the random order drawn from seed N (the same on '
             'every xdist worker), to show that no test depends on the ones run before it')


def shuffled(items: list, seed: int) -> list:
    """``items`` in the order a ``random.Random(seed)`` shuffle gives."""
    import random
    items = list(items)
    random.Random(seed).shuffle(items)
    return items


def pytest_collection_modifyitems(config, items):
    seed = config.getoption('--shuffle-seed')
    if seed is not None:
        items[:] = shuffled(items, seed)



@pytest.fixture(autouse=True)
def isolated_state():
    """No state leaks from one test into the next: each test gets its own
    current MessageHub (the iteration and base seed the step RNG reads) and
    current MMLogger (whose stream handler would otherwise keep writing to an
    earlier test's closed capture stream),
    the global generators are seeded alike before it and restored after,
    and mmengine's default scope is put back."""
    import random
    import uuid

    import numpy as np
    import torch
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.registry import DefaultScope
    states = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    MessageHub.get_instance(f'test-{uuid.uuid4().hex}')
    MMLogger.get_instance(f'test-{uuid.uuid4().hex}', logger_name='mmengine')
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    yield
    torch.set_rng_state(states[0])
    np.random.set_state(states[1])
    random.setstate(states[2])
    if DefaultScope.get_current_instance() is None or \
            DefaultScope.get_current_instance().scope_name != 'mmseg':
        init_default_scope('mmseg')


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


SEMIEARTH_CONFIG = osp.join(
    ROOT, 'configs/semiearth/'
    'semiearth_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py')
# A tiny open_clip architecture (random weights; no download anywhere).
TINY_CLIP = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=32, patch_size=8, width=64, layers=2, head_width=32),
    text_cfg=dict(context_length=16, vocab_size=49408, width=32, heads=2, layers=1))


@pytest.fixture(scope='session')
def tiny_clip_ckpt(tmp_path_factory):
    """A tiny open_clip model saved as a plain state dict (RemoteCLIP style)."""
    import open_clip
    import torch
    torch.manual_seed(0)
    path = str(tmp_path_factory.mktemp('vlm') / 'tiny_clip.pt')
    torch.save(open_clip.CLIP(**TINY_CLIP).state_dict(), path)
    return path


def write_semiearth_config(path, data_root, cache_dir, vlm_ckpt, base=SEMIEARTH_CONFIG,
                           **purifier):
    """A user config inheriting a SemiEarth config, with test data, the tiny
    VLM (loaded from ``vlm_ckpt``) and ``cache_dir``; returns its path."""
    vlm = dict(model_name='tiny-clip', model_cfg=TINY_CLIP, pretrained=None,
               checkpoint=vlm_ckpt, templates='simple', input_size=64)
    purifier = dict(dict(vlm=vlm, cache_dir=cache_dir), **purifier)
    root = data_root
    text = f"""_base_ = [{base!r}]
model = dict(purifier={purifier!r}, segmentor=dict(backbone=dict(init_cfg=None)))
train_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(
    labeled=dict(data_root={root!r}), unlabeled=dict(data_root={root!r})))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root={root!r}))
test_dataloader = dict(num_workers=0, persistent_workers=False,
                       dataset=dict(data_root={root!r}))
"""
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


@pytest.fixture(scope='session')
def cached(nc_data, tiny_clip_ckpt, tmp_path_factory):
    """A SemiEarth config with the tiny VLM, its evidence precomputed by
    tools/precompute_vlm.py."""
    tmp = tmp_path_factory.mktemp('semiearth')
    cache_dir = str(tmp / 'cache')
    config = write_semiearth_config(tmp / 'cfg.py', nc_data, cache_dir, tiny_clip_ckpt)
    proc = run_tool([sys.executable, 'tools/precompute_vlm.py', config])
    return dict(config=config, cache_dir=cache_dir, tmp=tmp, log=proc.stdout)
