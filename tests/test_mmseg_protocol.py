"""The mmseg model-zoo protocol (docs/mmseg_zoo.md): split lists over the
layout of mmseg's own converters, SemiDataset over mmseg's dataset classes,
the configs of configs/mmseg_protocol/ (the wrap tool's output, the zoo's
model, schedule, test mode and metric), wrapped configs (Potsdam, Vaihingen,
LoveDA and ADE20K) that build and train a step on fake data, the wrap tool
run from a copy of the package without this repository, a crop set by name,
and the student-only optimiser."""
import json
import logging
import os
import os.path as osp
import re
import shlex
import shutil
import subprocess
import sys
from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.runner import Runner
from mmseg.registry import DATASETS, MODELS
from torch import nn

from conftest import ROOT, TINY_CLIP

sys.path.insert(0, osp.join(ROOT, 'tools', 'misc'))
import mmseg_splits  # noqa: E402
import wrap_mmseg_config  # noqa: E402
from semiearth.apis.mmseg_protocol import (PROTOCOL_RATIOS, PURIFIER_BASE,  # noqa: E402
                                           protocol_ratio_tag, ratio_assignments,
                                           resolve_config, semi_runtime, split_files,
                                           strip_scope, wrap_config)
from semiearth.utils import config_text  # noqa: E402

ZOO = {ds: f'mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_{ds}-512x512.py'
       for ds in ('potsdam', 'vaihingen', 'loveda')}
PROTOCOL = osp.join(ROOT, 'configs', 'mmseg_protocol')
METHOD_BATCH = {'supervised': 4, 'fixmatch': 8, 'semiearth': 8}
TAGS = [protocol_ratio_tag(r) for r in PROTOCOL_RATIOS]


def base_name(method, ds):
    return (f'{method}_deeplabv3plus-r101-d8_4xb{METHOD_BATCH[method]}-80k_'
            f'mmseg-{ds}-512x512.py')


def leaf_path(method, ds, tag):
    return osp.join(PROTOCOL, method, base_name(method, ds).replace('-512x512', f'-{tag}-512x512'))


def fake_mmseg_layout(root, n_classes, n_train=16, n_val=2, size=64, img_dir='img_dir',
                      ann_dir='ann_dir', splits=('train', 'val'), img_suffix='.png',
                      seg_suffix='.png', seed=0):
    """Images and labels as mmseg's converters write them:
    ``<img_dir>/<split>/<name><img_suffix>``, labels in ``<ann_dir>/<split>/``
    with values 0..n_classes where 0 is the value mmseg's
    ``reduce_zero_label`` turns into 255 (ISPRS boundary, LoveDA no-data,
    ADE20K 'other'); the first row is always 0. Returns the root."""
    rng = np.random.default_rng(seed)
    for split, n in zip(splits, (n_train, n_val)):
        for sub in (img_dir, ann_dir):
            (root / sub / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            name = f'{split}_{i}_0_0_{size}_{size}'
            img = rng.integers(1, 255, (size, size, 3), dtype=np.uint8)
            seg = rng.integers(0, n_classes + 1, (size, size), dtype=np.uint8)
            seg[0] = 0
            cv2.imwrite(str(root / img_dir / split / f'{name}{img_suffix}'), img)
            cv2.imwrite(str(root / ann_dir / split / f'{name}{seg_suffix}'), seg)
    return str(root)


@pytest.fixture(scope='module')
def potsdam_root(tmp_path_factory):
    """Fake Potsdam in mmseg's layout (16 train, 2 val) with the split lists."""
    root = fake_mmseg_layout(tmp_path_factory.mktemp('mmseg_potsdam'), 6)
    mmseg_splits.main([root])
    return root


def _lines(path):
    return open(path).read().split()


# -------------------------------------------------------------- split lists
def test_split_lists_are_nested_disjoint_and_cover_train(tmp_path):
    root = fake_mmseg_layout(tmp_path / 'p', 6, n_train=40, n_val=1)
    meta = mmseg_splits.main([root])
    train = {f'train_{i}_0_0_64_64' for i in range(40)}
    assert meta['train'] == 40 and meta['seed'] == 42
    previous = set()
    for tag, n in zip(TAGS, (2, 5, 10, 20)):  # floor(40 x 1/16, 1/8, 1/4, 1/2)
        labeled_file, unlabeled_file = (osp.join(root, f) for f in split_files(tag))
        labeled, unlabeled = _lines(labeled_file), _lines(unlabeled_file)
        assert len(labeled) == n == len(set(labeled))
        assert set(labeled).isdisjoint(unlabeled) and set(labeled) | set(unlabeled) == train
        assert previous <= set(labeled)  # nested: 1/16 in 1/8 in 1/4 in 1/2
        previous = set(labeled)
        assert meta['lists'][f'train_labeled_{tag}'] == n
    first = {t: open(osp.join(root, split_files(t)[0])).read() for t in TAGS}
    mmseg_splits.main([root])  # same data, same seed: the same lists, no complaint
    assert first == {t: open(osp.join(root, split_files(t)[0])).read() for t in TAGS}
    with pytest.raises(ValueError, match=r'train_labeled_1of16.txt\' exists with other '
                       r'names.*Fix: --force'):
        mmseg_splits.main([root, '--seed', '7'])
    mmseg_splits.main([root, '--seed', '7', '--force'])
    assert first != {t: open(osp.join(root, split_files(t)[0])).read() for t in TAGS}
    assert json.load(open(osp.join(root, 'splits/mmseg/meta.json')))['seed'] == 7


def test_split_tool_errors_name_the_value_and_the_fix(tmp_path):
    root = fake_mmseg_layout(tmp_path / 'p', 6, n_train=4, n_val=1)
    with pytest.raises(ValueError, match=r"'1/3' is not one of the mmseg protocol's 1/16, "
                       r'1/8, 1/4, 1/2.*Fix: pick one'):
        mmseg_splits.main([root, '--ratios', '1/3'])
    with pytest.raises(FileNotFoundError, match=r"image folder '.*nowhere/img_dir/train' does "
                       r"not exist. Fix: convert the dataset with mmseg's converter"):
        mmseg_splits.main([str(tmp_path), '--img-dir', 'nowhere/img_dir/train'])
    (tmp_path / 'p/ann_dir/train/train_1_0_0_64_64.png').unlink()
    with pytest.raises(FileNotFoundError, match=r"1 of 4 training images have no label in "
                       r"'.*ann_dir/train'.*'train_1_0_0_64_64'.*Fix: re-run mmseg's"):
        mmseg_splits.main([root])
    (tmp_path / 'list.txt').write_text('train_0_0_0_64_64\nnot_converted\n')
    with pytest.raises(FileNotFoundError, match=r"--train-list '.*list.txt' names 1 image.* "
                       r"'not_converted'"):
        mmseg_splits.main([root, '--train-list', str(tmp_path / 'list.txt')])


# ---------------------------------------------- SemiDataset over mmseg data
def _semi_dataset_cfg(root, method='fixmatch', ds='potsdam', tag='1of8'):
    cfg = Config.fromfile(leaf_path(method, ds, tag))
    for part in ('labeled', 'unlabeled'):
        # unserialised data lists: mmengine's serialisation runs gc.collect()
        # per dataset, a quarter second each here
        cfg.train_dataloader.dataset[part].update(data_root=root, serialize_data=False)
    return cfg.train_dataloader.dataset


def test_semi_dataset_reads_mmseg_potsdam_with_the_lists(potsdam_root):
    ds_cfg = _semi_dataset_cfg(potsdam_root)
    train = DATASETS.build(ds_cfg)
    assert (len(train.labeled), len(train.unlabeled)) == (2, 14)  # 16 train images
    assert type(train.labeled).__name__ == 'PotsdamDataset'
    assert train.labeled.metainfo['classes'][-1] == 'clutter'  # mmseg's 6 classes
    # labels as the zoo reads them: reduce_zero_label (0 -> 255, k -> k - 1)
    loading = DATASETS.build(dict(ds_cfg.labeled, pipeline=[
        dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', reduce_zero_label=True)]))
    info = loading[0]
    raw = cv2.imread(info['seg_map_path'], cv2.IMREAD_UNCHANGED)
    expected = np.where(raw == 0, 255, raw.astype(np.int64) - 1)
    assert np.array_equal(info['gt_seg_map'], expected)
    labeled, unlabeled = train[0], train[len(train) - 1]
    assert {k for k, v in labeled['inputs'].items() if v is not None} == {'sup'}
    assert {k for k, v in unlabeled['inputs'].items() if v is not None} == \
        {'unsup_weak', 'unsup_strong'}
    weak = unlabeled['data_samples']['unsup_weak']
    assert 'src_coords' in weak
    # the unlabeled label is loaded (pseudo.acc diagnostics), already reduced
    assert set(np.unique(weak.gt_sem_seg.data.numpy())) <= set(range(6)) | {255}


def test_semi_dataset_split_errors(potsdam_root, tmp_path):
    ds_cfg = _semi_dataset_cfg(potsdam_root)
    bad = tmp_path / 'bad.txt'
    bad.write_text('train_0_0_0_64_64\nfrom_another_dataset\n')
    with pytest.raises(FileNotFoundError, match=r"labeled part \(PotsdamDataset\): the split "
                       r"list '.*bad.txt' names 1 image\(s\) of 2 that do not exist, e.g. "
                       r"'.*img_dir/train/from_another_dataset.png'.*mmseg_splits.py"):
        DATASETS.build(dict(ds_cfg, labeled=dict(ds_cfg.labeled, ann_file=str(bad))))
    overlap = dict(ds_cfg, unlabeled=dict(ds_cfg.unlabeled, ann_file=ds_cfg.labeled.ann_file))
    with pytest.raises(ValueError, match=r'2 image\(s\) are in both the labeled list .*'
                       r'Fix: make the unlabeled list the rest of train'):
        DATASETS.build(overlap)
    assert len(DATASETS.build(dict(overlap, allow_overlap=True))) == 4
    # unlabeled images without labels: no seg_map_path, no LoadAnnotations
    unl = ds_cfg.unlabeled
    no_labels = dict(unl, data_prefix=dict(img_path='img_dir/train'),
                     pipeline=[t for t in unl.pipeline if t['type'] != 'LoadAnnotations'])
    train = DATASETS.build(dict(ds_cfg, unlabeled=no_labels))
    assert 'gt_sem_seg' not in train[len(train) - 1]['data_samples']['unsup_weak']
    with pytest.raises(ValueError, match=r'unlabeled part .*loads labels \(LoadAnnotations\) '
                       r'but 14 sample\(s\) have no label path.*drop LoadAnnotations'):
        DATASETS.build(dict(ds_cfg, unlabeled=dict(unl, data_prefix=dict(
            img_path='img_dir/train'))))
    no_load = [t for t in ds_cfg.labeled.pipeline if t['type'] != 'LoadAnnotations']
    with pytest.raises(ValueError, match=r'labeled part .*no LoadAnnotations'):
        DATASETS.build(dict(ds_cfg, labeled=dict(ds_cfg.labeled, pipeline=no_load)))


# ------------------------------------------------------------ the configs
def _rel(path):
    return osp.relpath(path, ROOT)


@pytest.mark.parametrize('ds', sorted(ZOO))
def test_protocol_configs_are_the_wrap_tools_output(ds):
    """Every file of configs/mmseg_protocol/ is what the wrap tool writes
    today with the command in its header (run from the repository root):
    the bases at 1/8 (SemiEarth over the FixMatch one), each ratio's leaf
    over its base (--over), setting only its lists."""
    for method in METHOD_BATCH:
        base = osp.join(PROTOCOL, '_base_', base_name(method, ds))
        argv = [ZOO[ds], '--method', method, '--ratio', '1/8', '--out', _rel(base)]
        # SemiEarth: the FixMatch leaf plus the purifier
        fm = osp.join(PROTOCOL, '_base_', base_name('fixmatch', ds)) \
            if method == 'semiearth' else None
        if fm:
            argv += ['--fixmatch-base', _rel(fm)]
        text, _ = wrap_config(ZOO[ds], method, '1/8', out=base, argv=argv, fixmatch_base=fm)
        assert open(base).read() == text, f'{base} differs from the wrap tool output: ' \
            're-run the command in its header'
        for tag in TAGS:
            leaf = leaf_path(method, ds, tag)
            argv = [ZOO[ds], '--method', method, '--ratio', tag.replace('of', '/'), '--over',
                    _rel(base), '--out', _rel(leaf)]
            text, _ = wrap_config(ZOO[ds], method, tag, out=leaf, argv=argv, over=base)
            assert open(leaf).read() == text, f'{leaf}: re-run the command in its header'
            assert re.search(r"\n_base_ = \[\s*'\.\./_base_/" + re.escape(base_name(method, ds))
                             + r"'\]\ntrain_dataloader = ", text)
            assert text.endswith(config_text(ratio_assignments(method, tag)))


def test_package_data_matches_the_repository_bases():
    """The purifier and the teacher-student hooks and loops the package
    ships (what wrapped configs use) are the repository's configs/_base_
    ones."""
    def plain(x):
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        return [plain(v) for v in x] if isinstance(x, (list, tuple)) else x
    repo = Config.fromfile(osp.join(ROOT, 'configs/_base_/purifiers/vlm-pp_segearth-vit-b16.py'))
    assert plain(Config.fromfile(PURIFIER_BASE).purifier.to_dict()) == \
        plain(repo.purifier.to_dict())
    sched = Config.fromfile(osp.join(ROOT, 'configs/_base_/schedules/'
                                     'schedule_unimatch-v2_semi.py'))
    runtime = semi_runtime()
    assert plain(runtime['custom_hooks']) == plain(strip_scope(sched.custom_hooks))
    assert (runtime['train_loop'], runtime['val_loop']) == \
        (sched.train_cfg.type, sched.val_cfg.type)


@pytest.mark.parametrize('ds', sorted(ZOO))
def test_protocol_configs_keep_the_zoo_settings(ds):
    """Model, crop, optimiser, schedule, test mode, evaluator and val / test
    data are the zoo config's: IoUMetric(mIoU) over mmseg's classes (6 with
    clutter for Potsdam / Vaihingen, 7 for LoveDA), labels read with
    reduce_zero_label=True."""
    zoo = Config.fromfile(resolve_config(ZOO[ds]))
    n_classes = {'potsdam': 6, 'vaihingen': 6, 'loveda': 7}[ds]
    for method in METHOD_BATCH:
        cfg = Config.fromfile(leaf_path(method, ds, '1of8'))
        seg = cfg.model.segmentor if method != 'supervised' else cfg.model
        assert strip_scope(seg.to_dict()) == strip_scope(zoo.model.to_dict())
        assert seg.decode_head.num_classes == n_classes == seg.auxiliary_head.num_classes
        assert seg.test_cfg == dict(mode='whole')
        for key in ('val_evaluator', 'test_evaluator', 'val_dataloader', 'test_dataloader',
                    'param_scheduler', 'env_cfg', 'randomness'):
            assert strip_scope(cfg.get(key)) == strip_scope(zoo.get(key)), (method, key)
        optim = strip_scope(cfg.optim_wrapper.to_dict())
        if method != 'supervised':  # the zoo's optimiser, over the student only
            assert optim.pop('constructor') == 'StudentOptimWrapperConstructor'
        assert optim == strip_scope(zoo.optim_wrapper.to_dict())
        assert cfg.val_evaluator.type == 'IoUMetric' and cfg.val_evaluator.iou_metrics == ['mIoU']
        for key in ('max_iters', 'val_interval'):
            assert cfg.train_cfg[key] == zoo.train_cfg[key] == {'max_iters': 80000,
                                                                'val_interval': 8000}[key]
        val = cfg.val_dataloader.dataset
        assert len(DATASETS.get(val.type).METAINFO['classes']) == n_classes
        assert DATASETS.build(dict(val, lazy_init=True)).reduce_zero_label is True
        assert dict(type='LoadAnnotations', reduce_zero_label=True) in val.pipeline
        zoo_train = zoo.train_dataloader.dataset.pipeline
        if method == 'supervised':
            assert cfg.train_dataloader.dataset.pipeline == zoo_train
            continue
        parts = cfg.train_dataloader.dataset
        assert parts.labeled.pipeline[:-1] == zoo_train[:-1]  # the zoo's augmentation
        unl_crop = [t for t in parts.unlabeled.pipeline if t['type'] == 'RandomCrop']
        assert unl_crop == [dict(type='RandomCrop', crop_size=(512, 512))]  # no label-led crop
        assert cfg.train_dataloader.sampler == dict(type='SemiSampler', batch_size=8,
                                                    num_labeled=4)
        assert cfg.val_cfg.type == 'TeacherStudentValLoop'
        if method == 'semiearth':
            assert cfg.model.purifier.vlm.class_names == ('isprs' if n_classes == 6 else ds)
            assert cfg.model.purifier.cache_dir.startswith(zoo.train_dataloader.dataset.data_root)
            assert cfg.model.purifier.rule.type == 'CalibratedPurifyRule'  # the purifier base's


def test_wrap_tool_options(tmp_path):
    """Unlabeled images without label files, and a smaller batch (24 GB cards)."""
    argv = [ZOO['potsdam'], '--method', 'fixmatch', '--ratio', '1/4', '--out', f'{tmp_path}/',
            '--unlabeled-without-labels', '--num-labeled', '2', '--num-unlabeled', '2']
    _, written = wrap_mmseg_config.run(argv)
    assert osp.basename(written) == \
        'fixmatch_deeplabv3plus-r101-d8_4xb4-80k_mmseg-potsdam-1of4-512x512.py'
    cfg = Config.fromfile(written)
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.train_dataloader.sampler == dict(type='SemiSampler', batch_size=4, num_labeled=2)
    parts = cfg.train_dataloader.dataset
    assert parts.labeled.ann_file == 'splits/mmseg/train_labeled_1of4.txt'
    assert parts.labeled.data_prefix == dict(img_path='img_dir/train',
                                             seg_map_path='ann_dir/train')
    assert parts.unlabeled.data_prefix == dict(img_path='img_dir/train')
    assert not {'LoadAnnotations', 'CheckSegLabels'} & {t['type'] for t in parts.unlabeled.pipeline}


def test_wrap_tool_errors_name_the_value_and_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"'3/4' is not one of the mmseg protocol's"):
        wrap_config(ZOO['potsdam'], 'fixmatch', '3/4')
    with pytest.raises(FileNotFoundError, match=r"has no 'deeplabv3plus/nope.py'.*Fix: name"):
        wrap_config('mmseg::deeplabv3plus/nope.py', 'fixmatch', '1/8')
    user = tmp_path / 'user.py'
    user.write_text(f"_base_ = [{resolve_config(ZOO['potsdam'])!r}]\n"
                    "train_pipeline = [dict(type='LoadImageFromFile'),\n"
                    "    dict(type='LoadAnnotations'), dict(type='MyWarp'),\n"
                    "    dict(type='PackSegInputs')]\n"
                    "train_dataloader = dict(dataset=dict(pipeline=train_pipeline))\n")
    with pytest.raises(ValueError, match=r"step 2 is 'MyWarp'.*Fix: pass --shared MyWarp or "
                       r'--labeled-only MyWarp'):
        wrap_config(str(user), 'fixmatch', '1/8')
    text, _ = wrap_config(str(user), 'fixmatch', '1/8', shared=['MyWarp'])
    assert "dict(type='MyWarp')" in text.split('unlabeled_pipeline = ')[1]
    text, _ = wrap_config(str(user), 'fixmatch', '1/8', labeled_only=['MyWarp'])
    assert "MyWarp" not in text.split('unlabeled_pipeline = ')[1].split('train_dataloader')[0]


# ------------------------------------------------------ one training step
def _shrink(cfg, size=64):
    """Tiny crops and a ResNet-18 for a CPU step, the rest (data layout,
    classes, metric, hooks, loops) untouched."""
    semi = cfg.model.type == 'SemiEarthSegmentor'
    seg = cfg.model.segmentor if semi else cfg.model
    seg.pretrained = None
    if seg.backbone.type == 'ResNetV1c':  # mmseg's own r18 variant of the zoo model
        seg.backbone.depth = 18
        seg.decode_head.update(in_channels=512, channels=64, c1_in_channels=64, c1_channels=12)
        seg.auxiliary_head.update(in_channels=256, channels=32)
    else:
        seg.backbone.init_cfg = None
    seg.data_preprocessor.size = (size, size)

    def walk(node):
        if isinstance(node, dict):
            if node.get('type') in ('RandomResize', 'Resize') and 'scale' in node:
                node['scale'] = (size, size)
            if node.get('type') == 'RandomCrop':
                node['crop_size'] = (size, size)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        walk(cfg[key])
        cfg[key].update(num_workers=0, persistent_workers=False)
    if semi:
        cfg.train_dataloader.update(batch_size=2)
        cfg.train_dataloader.sampler.update(batch_size=2, num_labeled=1)
    else:
        cfg.train_dataloader.batch_size = 2
    cfg.train_cfg.update(max_iters=1, val_interval=100)


def _point_at(cfg, root):
    """Every dataset of ``cfg`` at ``root``; data lists not serialised
    (mmengine's serialisation runs gc.collect(), a quarter second each)."""
    loader = cfg.train_dataloader.dataset
    parts = [loader.labeled, loader.unlabeled] if loader.type == 'SemiDataset' else [loader]
    for part in parts + [cfg.val_dataloader.dataset, cfg.test_dataloader.dataset]:
        part.update(data_root=root, serialize_data=False)


def _load(path):
    """A config for the Runner, without the yapf formatting of the config
    text the Runner logs and dumps (seconds per config on a CPU; mmengine
    0.10's ``Config.fromfile`` drops its ``format_python_code`` argument)."""
    cfg = Config.fromfile(path)
    object.__setattr__(cfg, '_format_python_code', False)
    return cfg


def _train_a_step_and_validate(cfg, work_dir):
    cfg.work_dir = str(work_dir)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert np.isfinite(runner.message_hub.log_scalars['train/loss'].current())
    # the student-only optimiser: no line per frozen teacher parameter
    log = open(osp.join(runner.log_dir, f'{runner.timestamp}.log')).read()
    assert 'is skipped since its requires_grad' not in log
    metric = runner.val_evaluator.metrics[0]
    assert type(metric).__name__ == 'IoUMetric' and metric.metrics == ['mIoU']
    return runner, runner.val()


DOCS = osp.join(ROOT, 'docs', 'mmseg_zoo.md')


def docs_wrap_commands():
    """The wrap-tool commands of docs/mmseg_zoo.md's "Wrap any mmseg config"."""
    text = open(DOCS).read()
    section = text[text.index('## Wrap any mmseg config'):]
    block = re.search(r'```bash\n(.*?)```', section, re.S).group(1)
    return [shlex.split(line) for line in block.replace('\\\n', ' ').splitlines()
            if line.startswith('python tools/misc/wrap_mmseg_config.py')]


# FixMatch's step: the SemiEarth leaf (the FixMatch base plus the purifier) and
# the ADE20K FixMatch leaf of the docs test train it
@pytest.mark.parametrize('ds,method', [('vaihingen', 'supervised'), ('loveda', 'semiearth')])
def test_protocol_config_trains_a_step(ds, method, tmp_path, tiny_clip_ckpt):
    """The repository's 1/8 leaf (the wrap tool's output for the zoo config)
    on fake data in mmseg's layout with the lists of mmseg_splits.py: one
    training step through the Runner (hooks, data checks, EMA teacher), then
    validation with the zoo's metric."""
    n_classes = {'potsdam': 6, 'vaihingen': 6, 'loveda': 7}[ds]
    root = fake_mmseg_layout(tmp_path / ds, n_classes)
    mmseg_splits.main([root])
    cfg = _load(leaf_path(method, ds, '1of8'))
    _shrink(cfg)
    _point_at(cfg, root)
    if method == 'semiearth':
        cfg.model.purifier.vlm.update(model_name='tiny-clip', model_cfg=TINY_CLIP,
                                      pretrained=None, checkpoint=tiny_clip_ckpt,
                                      templates='simple', input_size=64, window=None)
        # the purifier base's evidence mode and calibrated rule as they are: the
        # VLM is measured on the labeled images before iteration 1
        cfg.model.purifier.cache_dir = str(tmp_path / 'vlm_cache')
    runner, metrics = _train_a_step_and_validate(cfg, tmp_path / 'work')
    assert len(runner.val_evaluator.metrics[0].dataset_meta['classes']) == n_classes
    keys = ['mIoU'] if method == 'supervised' else ['teacher/mIoU', 'student/mIoU']
    assert all(0 <= metrics[k] <= 100 for k in keys), metrics
    if method == 'semiearth':
        assert 'train/vlm.changed_label_ratio' in runner.message_hub.log_scalars
        assert osp.isfile(osp.join(cfg.model.purifier.cache_dir, 'calibration.json'))


def test_docs_wrap_examples_build_and_the_ade20k_one_trains_a_step(tmp_path):
    """docs/mmseg_zoo.md's wrap commands, run as written (their --out folder
    moved to a temporary one): each writes a leaf that builds on fake data in
    its config's layout; the non-RS one (SegFormer on ADE20K) trains a step."""
    commands = docs_wrap_commands()
    assert len(commands) == 2
    trained = 0
    for i, cmd in enumerate(commands):
        argv = cmd[2:]
        out = argv.index('--out') + 1
        argv[out] = f"{tmp_path / f'out{i}'}/{argv[out]}"
        _, written = wrap_mmseg_config.run(argv)
        assert f'`my_configs/{osp.basename(written)}`' in open(DOCS).read()  # as the page says
        cfg = _load(written)
        train = cfg.train_dataloader.dataset
        assert train.type == 'SemiDataset'
        ds_cls = DATASETS.get(train.labeled.type)
        n_classes = len(ds_cls.METAINFO['classes'])
        prefix = train.labeled.data_prefix
        img_dir, split = prefix.img_path.split('/')
        val_split = cfg.val_dataloader.dataset.data_prefix.img_path.split('/')[1]
        ann_dir = prefix.seg_map_path.split('/')[0]
        suffix = '.jpg' if ds_cls.__name__ == 'ADE20KDataset' else '.png'
        root = fake_mmseg_layout(tmp_path / f'data{i}', n_classes, img_dir=img_dir,
                                 ann_dir=ann_dir, splits=(split, val_split), img_suffix=suffix)
        mmseg_splits.main([root, '--img-dir', prefix.img_path, '--ann-dir',
                           prefix.seg_map_path, '--img-suffix', suffix])
        _point_at(cfg, root)
        built = DATASETS.build(train)
        n_labeled = int(16 * Fraction(argv[argv.index('--ratio') + 1]))  # of 16 train images
        assert (len(built.labeled), len(built.unlabeled)) == (n_labeled, 16 - n_labeled)
        if ds_cls.__name__ != 'ADE20KDataset':
            continue
        _shrink(cfg)
        cfg.model.segmentor.backbone.init_cfg = None
        runner, metrics = _train_a_step_and_validate(cfg, tmp_path / 'work')
        assert len(runner.val_evaluator.metrics[0].dataset_meta['classes']) == 150
        assert 0 <= metrics['teacher/mIoU'] <= 100
        trained += 1
    assert trained == 1


OTHER_METHODS = {  # --method: (semi_method type, file tag, title, strong views, keeps, losses)
    'unimatch_v2': ('UniMatchV2', 'unimatch-v2', 'UniMatch V2', 2, 'teacher',
                    {'unsup.loss_ce_s1', 'unsup.loss_ce_s2'}),
    'unimatch': ('UniMatch', 'unimatch', 'UniMatch', 2, 'student',
                 {'unsup.loss_ce_s1', 'unsup.loss_ce_s2', 'unsup.loss_ce_fp'}),
    'mean_teacher': ('MeanTeacher', 'mean-teacher', 'Mean Teacher', 0, 'teacher',
                     {'unsup.loss_cons'}),
    'dwl': ('DWL', 'dwl', 'DWL', 1, 'student', {'unsup.loss_dwl'}),
}


@pytest.mark.parametrize('plain', sorted(OTHER_METHODS))
def test_wrap_other_methods_and_train_a_step(plain, tmp_path, tiny_clip_ckpt):
    """--method unimatch_v2 / unimatch / mean_teacher / dwl and their
    purified rows (written over the plain leaf with --fixmatch-base): the
    leaf names the method and its settings, packs the method's strong views
    (a second one for UniMatch / UniMatch V2, none for Mean Teacher), keeps
    the student for UniMatch and DWL, adds DWL's merge hook and Mean
    Teacher's EMA decay; each trains a step through the Runner on fake
    LoveDA data and validates."""
    semi_method, tag, title, n_strong, keeps, loss_keys = OTHER_METHODS[plain]
    n_classes = 7
    root = fake_mmseg_layout(tmp_path / 'loveda', n_classes)
    mmseg_splits.main([root])
    plain_out = str(tmp_path / 'leaves' / f'{plain}.py')
    os.makedirs(osp.dirname(plain_out))
    wrap_mmseg_config.run([ZOO['loveda'], '--method', plain, '--ratio', '1/8', '--out',
                           plain_out])
    vlmpp = f'{plain}-vlmpp'
    _, vlmpp_out = wrap_mmseg_config.run([ZOO['loveda'], '--method', vlmpp, '--ratio', '1/8',
                                          '--out', f"{tmp_path / 'leaves'}/",
                                          '--fixmatch-base', plain_out])
    assert osp.basename(vlmpp_out) == \
        f'{tag}-vlmpp_deeplabv3plus-r101-d8_4xb8-80k_mmseg-loveda-1of8-512x512.py'
    assert open(vlmpp_out).readline().startswith(f'# {title} + VLM-PP')
    base_method = Config.fromfile(osp.join(ROOT, 'configs', '_base_', 'models',
                                           f'semi_{tag}.py'))
    for method, path in ((plain, plain_out), (vlmpp, vlmpp_out)):
        cfg = _load(path)
        # the method's settings: those of its configs/_base_/models/semi_<method>.py
        assert cfg.model.semi_method == base_method.semi_method
        assert all(base_method.semi_train_cfg[k] == v
                   for k, v in cfg.model.get('semi_train_cfg', {}).items())
        unlabeled = cfg.train_dataloader.dataset.unlabeled.pipeline[-1]
        strong = ['unsup_strong', 'unsup_strong2'][:n_strong]
        assert unlabeled.branch_field == ['sup', 'unsup_weak', *strong]
        assert all(unlabeled[b] == unlabeled.get('unsup_strong') for b in strong)
        assert cfg.model.get('semi_test_cfg', {}).get('predict_on', 'teacher') == keeps
        assert cfg.default_hooks.checkpoint.get('save_best') == \
            ('student/mIoU' if keeps == 'student' else None)
        hooks = {h.type: h for h in cfg.custom_hooks}
        assert ('ClassifierMergeHook' in hooks) == (semi_method == 'DWL')
        assert hooks['EMATeacherHook'].max_decay == (0.99 if semi_method == 'MeanTeacher'
                                                     else 0.996)
        _shrink(cfg)
        # 2 + 2 images: DWL's and UniMatch's online forward over the unlabeled
        # images alone needs more than one per batch-norm channel
        cfg.train_dataloader.update(batch_size=4)
        cfg.train_dataloader.sampler.update(batch_size=4, num_labeled=2)
        _point_at(cfg, root)
        if method == vlmpp:
            cfg.model.purifier.vlm.update(model_name='tiny-clip', model_cfg=TINY_CLIP,
                                          pretrained=None, checkpoint=tiny_clip_ckpt,
                                          templates='simple', input_size=64, window=None)
            cfg.model.purifier.cache_dir = str(tmp_path / 'vlm_cache')
        runner, metrics = _train_a_step_and_validate(cfg, tmp_path / f'work_{method}')
        scalars = runner.message_hub.log_scalars
        assert {f'train/{k}' for k in loss_keys} <= set(scalars), sorted(scalars)
        assert ('train/vlm.changed_label_ratio' in scalars) == (method == vlmpp)
        assert all(0 <= metrics[k] <= 100 for k in ('teacher/mIoU', 'student/mIoU'))


def test_fixmatch_base_is_checked(tmp_path):
    """--fixmatch-base: only for SemiEarth, and only a FixMatch leaf of the
    same config, else an error naming the fix."""
    fm = osp.join(PROTOCOL, '_base_', base_name('fixmatch', 'potsdam'))
    with pytest.raises(ValueError, match='is for --method semiearth'):
        wrap_config(ZOO['potsdam'], 'fixmatch', '1/8', fixmatch_base=fm)
    with pytest.raises(ValueError, match="not this tool's fixmatch leaf.*Fix: write it"):
        wrap_config(ZOO['vaihingen'], 'semiearth', '1/8', fixmatch_base=fm)
    # a purified row takes the leaf of its own method, not FixMatch's
    with pytest.raises(ValueError, match="not this tool's unimatch leaf.*--method unimatch"):
        wrap_config(ZOO['potsdam'], 'unimatch-vlmpp', '1/8', fixmatch_base=fm)
    with pytest.raises(ValueError, match="method 'dwl2' is not one of supervised, fixmatch"):
        wrap_config(ZOO['potsdam'], 'dwl2', '1/8')
    with pytest.raises(FileNotFoundError, match='does not exist.*--method fixmatch'):
        wrap_config(ZOO['potsdam'], 'semiearth', '1/8', fixmatch_base=str(tmp_path / 'x.py'))
    # the SemiEarth leaf over it is the FixMatch leaf plus the purifier
    se = Config.fromfile(osp.join(PROTOCOL, '_base_', base_name('semiearth', 'potsdam')))
    fmc = Config.fromfile(fm)
    assert se.model.purifier.vlm.class_names == 'isprs'
    assert se.train_dataloader == fmc.train_dataloader and se.custom_hooks == fmc.custom_hooks


def test_wrap_runs_from_a_copy_of_the_package_without_the_repository(tmp_path):
    """The wrap tool needs only the package (its data files included), not
    this repository's configs/: run from elsewhere, with semiearth imported
    from a copy of projects/semiearth, it writes a SemiEarth leaf whose
    purifier base is the copy's and which MMEngine reads."""
    pkg = tmp_path / 'site'
    shutil.copytree(osp.join(ROOT, 'projects', 'semiearth'), pkg / 'semiearth',
                    ignore=shutil.ignore_patterns('__pycache__'))
    work = tmp_path / 'elsewhere'
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=str(pkg), PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    code = ('import sys, runpy; import semiearth; print(semiearth.__file__); '
            f"sys.argv = ['wrap', {ZOO['loveda']!r}, '--method', 'semiearth', '--ratio', '1/4', "
            "'--out', 'leaf.py']; "
            f"runpy.run_path({osp.join(ROOT, 'tools', 'misc', 'wrap_mmseg_config.py')!r}, "
            "run_name='__main__')")
    proc = subprocess.run([sys.executable, '-c', code], cwd=work, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith(str(pkg / 'semiearth'))
    leaf = (work / 'leaf.py').read_text()
    assert osp.relpath(pkg / 'semiearth' / 'apis' / 'mmseg_protocol' / 'configs_data' /
                       'vlm-pp_segearth-vit-b16.yaml',
                       work) in leaf
    assert 'configs/_base_' not in leaf
    cfg = Config.fromfile(str(work / 'leaf.py'))
    assert cfg.model.purifier.vlm.class_names == 'loveda'
    assert cfg.model.purifier.rule.type == 'CalibratedPurifyRule'  # the copy's base


def test_crop_is_set_by_name_in_both_branches(tmp_path, potsdam_root):
    """--crop-size writes the crop once, as crop_size: the labeled and both
    unlabeled views are cropped to it and the data preprocessor pads to it;
    the resize scales follow. (--cfg-options crop_size=... cannot: MMEngine
    resolves names when it reads the file; shown here.)"""
    argv = [ZOO['potsdam'], '--method', 'fixmatch', '--ratio', '1/8', '--crop-size', '32',
            '--num-labeled', '1', '--num-unlabeled', '1', '--out', f'{tmp_path}/']
    _, written = wrap_mmseg_config.run(argv)
    assert osp.basename(written).endswith('_4xb2-80k_mmseg-potsdam-1of8-32x32.py')
    text = open(written).read()
    assert text.count('crop_size = (32, 32)') == 1 and text.count('crop_size=crop_size') == 2
    cfg = Config.fromfile(written)
    assert cfg.model.segmentor.data_preprocessor.size == (32, 32)
    parts = cfg.train_dataloader.dataset
    for part in (parts.labeled, parts.unlabeled):
        resize = [t for t in part.pipeline if t['type'] == 'RandomResize']
        assert resize[0]['scale'] == (32, 32)  # 512 x 32/512
    stale = Config.fromfile(written)
    stale.merge_from_dict({'crop_size': (16, 16)})
    assert [t['crop_size'] for t in stale.train_dataloader.dataset.labeled.pipeline
            if t['type'] == 'RandomCrop'] == [(32, 32)]
    _point_at(cfg, potsdam_root)
    cfg.train_dataloader.update(num_workers=0, persistent_workers=False)
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    batch = next(iter(loader))
    preprocessor = MODELS.build(dict(cfg.model.segmentor.data_preprocessor,
                                     type='SemiSegDataPreProcessor'))
    inputs = preprocessor(batch, training=True)['inputs']
    shapes = {k: tuple(v.shape[-2:]) for k, v in inputs.items() if v is not None}
    assert shapes == {'sup': (32, 32), 'unsup_weak': (32, 32), 'unsup_strong': (32, 32)}
    samples = [s for branch in ('sup', 'unsup_weak', 'unsup_strong')
               for s in batch['data_samples'][branch] or [] if s is not None]
    assert len(samples) == 3 and all(max(s.img_shape) <= 32 for s in samples)  # then padded
    # a supervised leaf at a crop: the config's pipeline, reading the same name
    text, _ = wrap_config(ZOO['potsdam'], 'supervised', '1/8', out=str(tmp_path / 'sup.py'),
                          crop_size=(32, 32))
    (tmp_path / 'sup.py').write_text(text)
    sup = Config.fromfile(str(tmp_path / 'sup.py'))
    assert [t['crop_size'] for t in sup.train_dataloader.dataset.pipeline
            if t['type'] == 'RandomCrop'] == [(32, 32)]
    assert sup.model.data_preprocessor.size == (32, 32)
    assert sup.train_dataloader.dataset.ann_file == 'splits/mmseg/train_labeled_1of8.txt'


def _tiny_semi_model():
    seg = dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0., 0., 0.],
                               std=[1., 1., 1.], size=(32, 32)),
        backbone=dict(type='MobileNetV2', widen_factor=0.25, out_indices=(6,)),
        decode_head=dict(type='FCNHead', in_channels=80, channels=8, num_convs=1,
                         num_classes=3, loss_decode=dict(type='CrossEntropyLoss')))
    return MODELS.build(dict(type='SemiEarthSegmentor', segmentor=seg))


def _build_optimizer(model, constructor):
    """The optimiser wrapper as the Runner builds it (SegFormer's
    paramwise_cfg), and the log lines it wrote."""
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        wrapper = build_optim_wrapper(model, dict(
            type='OptimWrapper', constructor=constructor,
            optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
            paramwise_cfg=dict(custom_keys=dict(head=dict(lr_mult=10.)), norm_decay_mult=0.)))
    finally:
        logger.removeHandler(handler)
    return wrapper, lines


def test_student_optimizer_holds_the_student_only():
    """StudentOptimWrapperConstructor: no "teacher.* is skipped" line, the
    teacher in no group and with no optimiser state after a step; custom
    keys still match (student.* names); a frozen student parameter is still
    reported; a trainable parameter outside the student is an error."""
    model = _tiny_semi_model()
    _, default_lines = _build_optimizer(model, 'DefaultOptimWrapperConstructor')
    assert any(m.startswith('teacher.') and 'is skipped' in m for m in default_lines)
    wrapper, lines = _build_optimizer(model, 'StudentOptimWrapperConstructor')
    assert not [m for m in lines if 'is skipped' in m]
    grouped = [p for g in wrapper.optimizer.param_groups for p in g['params']]
    assert {id(p) for p in grouped} == {id(p) for p in model.student.parameters()}
    heads = [g for g in wrapper.optimizer.param_groups
             if any(p is model.student.decode_head.conv_seg.weight for p in g['params'])]
    assert heads[0]['lr'] == pytest.approx(0.1)  # custom_keys 'head': lr x 10
    sum(p.sum() for p in model.student.parameters()).backward()
    wrapper.step()
    state = {id(p) for p in wrapper.optimizer.state}
    assert state and state <= {id(p) for p in model.student.parameters()}
    assert not state & {id(p) for p in model.teacher.parameters()}
    model.student.backbone.conv1.requires_grad_(False)
    _, lines = _build_optimizer(model, 'StudentOptimWrapperConstructor')
    assert [m for m in lines if 'is skipped' in m] == [
        'student.backbone.conv1.conv.weight is skipped since its requires_grad=False',
        'student.backbone.conv1.bn.weight is skipped since its requires_grad=False',
        'student.backbone.conv1.bn.bias is skipped since its requires_grad=False']
    model.extra = nn.Parameter(torch.zeros(1))
    with pytest.raises(ValueError, match=r"1 trainable parameter\(s\) outside the student, "
                       r"e.g. \['extra'\].*Fix: freeze"):
        _build_optimizer(model, 'StudentOptimWrapperConstructor')
