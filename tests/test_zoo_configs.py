"""The config zoo: every config's name states its settings, every model
builds and predicts its dataset's classes, every data pipeline runs on fake
converted data, the smallest paper config trains a step, and the config
checks (num_classes, crop size) fail clearly. The mmseg-protocol configs
(configs/mmseg_protocol/, ``mmseg-<dataset>`` in the name) follow the same
rules where the zoo's config does not decide otherwise; their own tests are
in test_mmseg_protocol.py."""
import copy
import functools
import glob
import json
import os.path as osp
import re
import sys
from collections import defaultdict

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import DATASETS, MODELS

from conftest import ROOT, TINY_CLIP, run_tool, write_semiearth_config
from semiearth.engine import ConfigCheckHook
from semiearth.engine.hooks.config_check_hook import random_crop_sizes as _crops
from semiearth.vlm import check_class_names, resolve_class_names

CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)
IDS = [osp.basename(p)[:-3] for p in CONFIGS]
# {method}[-vlmpp]_{backbone}_{gpus}xb{batch}-{schedule}_[mmseg-]{dataset}-{ratio}-{crop}.py
# ('mmseg-': the mmseg model-zoo protocol, docs/mmseg_zoo.md; '-vlmpp': an S4
# method of docs/methods.md with the purifier; semiearth is FixMatch + VLM-PP)
S4_METHODS = ('unimatch-v2', 'unimatch', 'dwl', 'mean-teacher')
# the methods' folders (configs/<folder>/<method>[-vlmpp]_...)
S4_FOLDERS = {'unimatch-v2': 'unimatch_v2', 'unimatch': 'unimatch', 'dwl': 'dwl',
              'mean-teacher': 'mean_teacher'}
TWO_STRONG_VIEWS = ('unimatch-v2', 'unimatch')
NAME = re.compile(r'^(?P<method>supervised|fixmatch|semiearth|unimatch-v2|unimatch|dwl|'
                  r'mean-teacher)(?P<vlmpp>-vlmpp)?_(?P<backbone>[a-z0-9.\-]+)_'
                  r'(?P<gpus>\d+)xb(?P<batch>\d+)-(?P<iters>\d+)(?P<unit>k|i)_'
                  r'(?P<protocol>mmseg-)?(?P<dataset>[a-z0-9]+)-(?P<ratio>\d+pct|1of\d+)-'
                  r'(?P<h>\d+)x(?P<w>\d+)$')
RATIOS = {'1pct', '5pct', '10pct', '1of4', '1of8'}
MMSEG_RATIOS = {'1of16', '1of8', '1of4', '1of2'}


@functools.lru_cache(maxsize=None)
def _parsed(path):
    return Config.fromfile(path)


def _config(path):
    """A config of the zoo, parsed once per session (a parse resolves every
    mmseg:: reference through all of mmseg's metafiles, ~0.3 s on a CPU) and
    handed out as a copy each test may change."""
    return copy.deepcopy(_parsed(path))


def _is_mmseg(path):
    """A config of the mmseg model-zoo protocol."""
    return '_mmseg-' in osp.basename(path)


def _mmseg_one_ratio(paths):
    """The mmseg-protocol leaves of one ratio (the others differ only in
    their two split lists, checked by name and against the wrap tool), and
    every other config."""
    return [p for p in paths if not _is_mmseg(p) or '-1of8-' in osp.basename(p)]


def _seg(cfg):
    return cfg.model.segmentor if cfg.model.type == 'SemiEarthSegmentor' else cfg.model


def _datasets(cfg):
    """(train dataset configs, val dataset config)."""
    train = cfg.train_dataloader.dataset
    parts = [train.labeled, train.unlabeled] if train.type == 'SemiDataset' else [train]
    return parts, cfg.val_dataloader.dataset


def _branches(sample):
    """Branches a MultiBranch sample fills (the others are None)."""
    return {k for k, v in sample['inputs'].items() if v is not None}


def _method(path):
    """The method part of a config's name, '-vlmpp' removed."""
    return NAME.match(osp.basename(path)[:-3])['method']


def test_the_zoo_covers_the_protocol():
    names = {n for n in IDS if '_mmseg-' not in n and
             n.split('_')[0] in ('supervised', 'fixmatch', 'semiearth')}
    for dataset, ratios in (('potsdam', ('1pct', '5pct', '10pct')),
                            ('loveda', ('1pct', '5pct', '10pct')),
                            ('deepglobe', ('1pct', '5pct', '10pct')),
                            ('vaihingen', ('1of8', '1of4'))):
        for method in ('supervised', 'fixmatch', 'semiearth'):
            for ratio in ratios:
                hits = [n for n in names if n.startswith(f'{method}_dpt-dinov2-s_')
                        and f'_{dataset}-{ratio}-518x518' in n]
                assert len(hits) == 1, (method, dataset, ratio, hits)
    for backbone in ('deeplabv3plus-r101-d8', 'segformer-mit-b5'):
        assert sum(n.split('_')[1] == backbone for n in names) == 3


def test_the_zoo_covers_the_mmseg_protocol():
    """Each method at each ratio on the zoo's DeepLabV3+ R101-D8 80k 512x512
    for Potsdam, Vaihingen and LoveDA (docs/mmseg_zoo.md)."""
    names = {n for n in IDS if '_mmseg-' in n}
    assert len(names) == 3 * 3 * 4
    for dataset in ('potsdam', 'vaihingen', 'loveda'):
        for method, batch in (('supervised', 4), ('fixmatch', 8), ('semiearth', 8)):
            for ratio in sorted(MMSEG_RATIOS):
                name = (f'{method}_deeplabv3plus-r101-d8_4xb{batch}-80k_mmseg-{dataset}-'
                        f'{ratio}-512x512')
                assert name in names, name


@pytest.mark.parametrize('path', CONFIGS, ids=IDS)
def test_config_name_states_its_settings(path):
    m = NAME.match(osp.basename(path)[:-3])
    assert m, f'{path} is not named the mmseg way'
    if m['method'] in S4_METHODS:
        assert osp.basename(osp.dirname(path)) == S4_FOLDERS[m['method']], path
    else:  # supervised has no purifier; FixMatch + VLM-PP is called semiearth
        assert m['vlmpp'] is None, path
    cfg = _config(path)
    assert 'semiearth' in cfg.custom_imports['imports']
    assert any(h['type'] == 'ConfigCheckHook' for h in cfg.custom_hooks)
    semi = m['method'] != 'supervised'
    assert (cfg.model.type == 'SemiEarthSegmentor') == semi
    purified = m['method'] == 'semiearth' or m['vlmpp'] is not None
    assert bool(cfg.model.get('purifier')) == purified
    batch = cfg.train_dataloader.sampler.batch_size if semi else cfg.train_dataloader.batch_size
    assert batch == int(m['batch'])
    iters = int(m['iters']) * (1000 if m['unit'] == 'k' else 1)
    assert cfg.train_cfg.max_iters == iters
    # ours: one scheduler as a dict; the zoo's: a list (warm-up + poly)
    assert max(s['end'] for s in _as_list(cfg.param_scheduler)) == iters
    crop = (int(m['h']), int(m['w']))
    assert set(_crops(cfg.train_dataloader)) == {crop}
    train_parts, val = _datasets(cfg)
    assert m['ratio'] in (MMSEG_RATIOS if m['protocol'] else RATIOS)
    assert m['ratio'] in train_parts[0].ann_file
    # the mmseg protocol's lists (tools/dataset_converters/mmseg_splits.py)
    assert train_parts[0].ann_file.startswith('splits/mmseg/') == bool(m['protocol'])
    if semi:
        assert train_parts[1].ann_file == train_parts[0].ann_file.replace('labeled', 'unlabeled')
    data_root = {p.data_root for p in train_parts} | {val.data_root}
    # (mmseg's LoveDA root is data/loveDA)
    assert len(data_root) == 1 and \
        m['dataset'].replace('nclandsat', 'nc_landsat') in data_root.pop().lower()
    classes = DATASETS.get(val.type).METAINFO['classes']
    seg = _seg(cfg)
    assert seg.decode_head.num_classes == len(classes)
    if 'auxiliary_head' in seg:
        assert seg.auxiliary_head.num_classes == len(classes)
    if purified:
        keys, _ = resolve_class_names(cfg.model.purifier.vlm.class_names)
        check_class_names(keys, classes, where=path)
        assert cfg.model.purifier.cache_dir.startswith(val.data_root)
        # one threshold: the segmentor's; no rule carries a copy of it
        assert 'conf_thresh' not in cfg.model.purifier.rule
    # cross-entropy averages over labeled pixels (UniMatch-V2's
    # nn.CrossEntropyLoss(ignore_index=255)) in every head of every config;
    # the mmseg protocol keeps the zoo's loss (mmseg's default mean over all
    # pixels): its reference column is the zoo model as the zoo trained it
    for head, loss in _head_losses(seg):
        if loss.type == 'CrossEntropyLoss':
            assert loss.get('avg_non_ignore', False) is (not m['protocol']), (path, head)


def _as_list(x):
    return x if isinstance(x, (list, tuple)) else [x]


def _head_losses(seg):
    """(head name, loss config) of every decode / auxiliary head."""
    return [(name, loss) for name in ('decode_head', 'auxiliary_head') if seg.get(name)
            for head in _as_list(seg[name]) for loss in _as_list(head.loss_decode)]


def _key(cfg_dict):
    """A config dict as a dedup key (mmengine's _scope_ marks, which
    configs inheriting mmseg:: files carry, left out)."""
    from semiearth.apis.mmseg_protocol import strip_scope
    return repr(strip_scope(cfg_dict))


def _unique_segmentors():
    by_key = defaultdict(list)
    for path in CONFIGS:
        cfg = _config(path)
        seg = _seg(cfg)
        seg.backbone.init_cfg = None  # weights are tested elsewhere
        seg.pretrained = None  # the zoo's open-mmlab:// weights, likewise
        by_key[_key(seg.to_dict())].append(path)
    return [v[0] for v in by_key.values()]


@pytest.mark.parametrize('path', _unique_segmentors(),
                         ids=lambda p: osp.basename(p)[:-3])
def test_every_segmentor_predicts_its_classes(path):
    """One forward per distinct segmentor (the wrappers are built below)."""
    cfg = _config(path)
    seg = _seg(cfg)
    seg.backbone.init_cfg = None
    if cfg.model.type == 'SemiEarthSegmentor' and 'data_preprocessor' not in seg:
        seg.data_preprocessor = cfg.model.data_preprocessor
    seg.pretrained = None
    model = MODELS.build(seg).eval()
    crop = next(_crops(cfg.train_dataloader))
    if _is_mmseg(path):
        # the zoo's R101-D8 at 512 costs seconds a forward on a CPU; any size
        # shows the classes
        crop = (64, 64)
    n_bands = len(model.data_preprocessor.mean.flatten())
    torch.manual_seed(0)
    with torch.no_grad():
        out = model(torch.rand(1, n_bands, *crop), mode='tensor')
    n_classes = len(DATASETS.get(cfg.val_dataloader.dataset.type).METAINFO['classes'])
    assert out.shape[:2] == (1, n_classes)
    assert torch.isfinite(out).all()


def _unique_semi_wrappers():
    """One semi config per distinct (model, crop): leaves that differ only
    in their split lists build the same wrapper."""
    by_key = {}
    for path in CONFIGS:
        method = _method(path)
        # an S4 method's wrappers: its purified Potsdam config stands for the
        # others (its NC configs train in test_semi_methods.py; ~6 s a build)
        if method == 'supervised' or method in S4_METHODS and not (
                '-vlmpp_' in path and '_potsdam-' in path):
            continue
        cfg = _config(path)
        model = cfg.model.to_dict()
        if model.get('purifier'):
            model['purifier'].pop('cache_dir')  # a path, not part of what is built
        by_key.setdefault(_key([model, list(_crops(cfg.train_dataloader))]), path)
    return list(by_key.values())


@pytest.mark.parametrize('path', _unique_semi_wrappers(), ids=lambda p: osp.basename(p)[:-3])
def test_every_semi_wrapper_builds(path):
    cfg = _config(path)
    _seg(cfg).backbone.init_cfg = None
    _seg(cfg).pretrained = None
    # as mmengine's Runner builds it: a top-level data_preprocessor (mmseg's
    # model bases have one) fills a model that has none
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(cfg.model)
    assert type(model.data_preprocessor).__name__ == 'SemiSegDataPreProcessor'
    crop = next(_crops(cfg.train_dataloader))
    assert tuple(model.data_preprocessor.size) == crop
    name = osp.basename(path)
    assert (model.purifier is not None) == (name.startswith('semiearth_') or '-vlmpp_' in name)
    assert not any(p.requires_grad for p in model.teacher.parameters())


def _fake_converted(root, n_classes, names, size=64, seed=0):
    """Crops in the converters' layout: img_dir/*.png, ann_dir/*.png (class
    index, 255 ignore) and every split list the configs read."""
    rng = np.random.default_rng(seed)
    for sub in ('img_dir', 'ann_dir', 'splits'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name in names:
        img = rng.integers(1, 255, (size, size, 3), dtype=np.uint8)
        seg = rng.integers(0, n_classes, (size, size), dtype=np.uint8)
        seg[:4] = 255
        cv2.imwrite(str(root / 'img_dir' / f'{name}.png'), img)
        cv2.imwrite(str(root / 'ann_dir' / f'{name}.png'), seg)
    lists = {'train': names[:4], 'val': names[4:5], 'test': names[5:6]}
    for ratio in RATIOS:
        lists[f'train_labeled_{ratio}'] = names[:2]
        lists[f'train_unlabeled_{ratio}'] = names[2:4]
    for split, items in lists.items():
        (root / 'splits' / f'{split}.txt').write_text('\n'.join(items) + '\n')
    return str(root)


@pytest.fixture(scope='module')
def fake_roots(tmp_path_factory):
    """data_root -> fake converted data, for every RS dataset of the zoo: our
    converters' layout and, for the mmseg protocol, mmseg's converters'
    layout with the lists of mmseg_splits.py (both defaults share
    data/potsdam and data/vaihingen, as they may on a user's disk)."""
    import mmseg_splits
    from test_mmseg_protocol import fake_mmseg_layout
    roots, layouts = {}, {}
    for path in CONFIGS:
        val = _config(path).val_dataloader.dataset
        if 'nc_landsat' in val.data_root or (val.data_root, _is_mmseg(path)) in layouts:
            continue
        n = len(DATASETS.get(val.type).METAINFO['classes'])
        if val.data_root not in roots:
            roots[val.data_root] = tmp_path_factory.mktemp(osp.basename(val.data_root))
        tmp = roots[val.data_root]
        if _is_mmseg(path):
            fake_mmseg_layout(tmp, n)
            mmseg_splits.main([str(tmp)])
        else:
            _fake_converted(tmp, n, [f'crop_{i}' for i in range(6)])
        layouts[val.data_root, _is_mmseg(path)] = True
    return {k: str(v) for k, v in roots.items()}


RS_CONFIGS = _mmseg_one_ratio([p for p in CONFIGS if 'nclandsat' not in p])


@pytest.mark.parametrize('path', RS_CONFIGS, ids=lambda p: osp.basename(p)[:-3])
def test_every_pipeline_runs_on_converted_data(path, fake_roots):
    cfg = _config(path)
    train_parts, val = _datasets(cfg)
    crop = next(_crops(cfg.train_dataloader))
    for part in train_parts + [val]:
        part.data_root = fake_roots[part.data_root]
    train = DATASETS.build(cfg.train_dataloader.dataset)
    samples = [train[0], train[len(train) - 1]]  # labeled and unlabeled for semi
    for sample in samples:
        inputs = sample['inputs']
        for img in (inputs.values() if isinstance(inputs, dict) else [inputs]):
            if img is None:
                continue
            assert img.shape[0] == 3 and img.shape[1] <= crop[0] and img.shape[2] <= crop[1]
    if cfg.train_dataloader.dataset.type == 'SemiDataset':
        assert _branches(samples[0]) == {'sup'}
        two = _method(path) in TWO_STRONG_VIEWS
        assert _branches(samples[1]) == {'unsup_weak', 'unsup_strong'} | \
            ({'unsup_strong2'} if two else set())
        weak = samples[1]['data_samples']['unsup_weak']
        assert 'src_coords' in weak
        # our converters zero-pad edge crops (a nodata mask); mmseg's shift the
        # last window inward, so only batch padding is unreal (img_shape)
        assert ('valid_mask' in weak) != _is_mmseg(path)
    val_sample = DATASETS.build(val)[0]
    # the zoo's test pipeline resizes to its scale (Potsdam 512, LoveDA 1024)
    side = min(next(t['scale'] for t in val.pipeline if t['type'] == 'Resize')) \
        if _is_mmseg(path) else 64
    assert val_sample['inputs'].shape == (3, side, side)
    labels = set(np.unique(val_sample['data_samples'].gt_sem_seg.data.numpy()))
    n_classes = len(DATASETS.get(val.type).METAINFO['classes'])
    assert 255 in labels and labels <= set(range(n_classes)) | {255}


SMALLEST = osp.join(ROOT, 'configs/semiearth/'
                    'semiearth_dpt-dinov2-s_4xb8-4k_vaihingen-1of8-518x518.py')


def test_smallest_paper_config_trains_a_step(fake_roots, tiny_clip_ckpt, tmp_path):
    """SemiEarth with DINOv2-S + DPT at 518 on (fake) Vaihingen: one real
    training iteration through the Runner: hooks, EMA teacher, purifier
    (a tiny random CLIP, online evidence), optimizer."""
    cfg = _config(SMALLEST)
    # no yapf formatting of the config text the Runner logs and dumps (seconds
    # on a CPU; mmengine 0.10's Config.fromfile drops format_python_code)
    object.__setattr__(cfg, '_format_python_code', False)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.model.segmentor.backbone.init_cfg = None
    cfg.model.purifier.vlm.update(model_name='tiny-clip', model_cfg=TINY_CLIP, pretrained=None,
                                  checkpoint=tiny_clip_ckpt, templates='simple',
                                  input_size=64, window=None)
    cfg.model.purifier.evidence = 'online'
    # online evidence, no precompute step: a rule that needs no calibration
    # (the default, calibrated, rule is trained in the next test)
    cfg.model.purifier.rule = dict(type='PoEPurifyRule')
    train_parts, val = _datasets(cfg)
    for part in train_parts + [cfg.val_dataloader.dataset, cfg.test_dataloader.dataset]:
        part.data_root = fake_roots['data/vaihingen']
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.sampler.update(batch_size=2, num_labeled=1)
    cfg.val_dataloader.update(num_workers=0, persistent_workers=False)
    cfg.test_dataloader.update(num_workers=0, persistent_workers=False)
    cfg.train_cfg.update(max_iters=1, val_interval=100)
    cfg.default_hooks.checkpoint.interval = 100
    runner = Runner.from_cfg(cfg)
    before = {k: v.clone() for k, v in runner.model.student.state_dict().items()}
    runner.train()
    scalars = runner.message_hub.log_scalars
    assert np.isfinite(scalars['train/loss'].current())
    assert 'train/vlm.changed_label_ratio' in scalars
    after = runner.model.student.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def _log(work_dir):
    return open(sorted(glob.glob(osp.join(str(work_dir), '*', '*.log')))[-1]).read()


@pytest.mark.timeout(900)
def test_smallest_paper_config_with_the_users_commands(fake_roots, tiny_clip_ckpt, tmp_path):
    """What a user runs on a paper config: ``bash tools/dist_train.sh CONFIG
    2`` (two DDP processes; gloo on this CPU machine), no precompute step:
    the write-through cache (``evidence='auto'``) measures the calibration
    on the labeled images before iteration 1 (split over the ranks) and
    writes each unlabeled image's map when training meets it; two
    iterations and a teacher/student validation. DDP would fail here on a
    trainable parameter without a gradient, a rank that builds a different
    model, or ranks that disagree about the cache."""
    root = fake_roots['data/vaihingen']
    cache = str(tmp_path / 'cache')
    config = write_semiearth_config(tmp_path / 'cfg.py', root, cache, tiny_clip_ckpt,
                                    base=SMALLEST)
    tiny = ['model.purifier.vlm.window=None']
    wd = tmp_path / 'work'
    opts = tiny + ['train_dataloader.batch_size=2', 'train_dataloader.sampler.batch_size=2',
                   'train_dataloader.sampler.num_labeled=1', 'train_cfg.max_iters=2',
                   'train_cfg.val_interval=2', 'param_scheduler.end=2',
                   'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=2']
    run_tool(['bash', 'tools/dist_train.sh', config, '2', '--work-dir', str(wd),
              '--cfg-options', *opts], timeout=840,
             env={'PYTHON': sys.executable, 'PORT': '29637'})
    log = _log(wd)
    assert 'GPU number: 2' in log and 'Iter(train) [2/2]' in log
    for key in ('sup.loss_ce', 'unsup.loss_ce', 'vlm.changed_label_ratio', 'teacher/mIoU',
                'student/mIoU', 'VLMEvidenceHook: calibration measured on'):
        assert key in log, key
    cal = json.load(open(osp.join(cache, 'calibration.json')))
    maps = {osp.basename(p)[:-4] for p in glob.glob(osp.join(cache, '*.npy'))}
    assert set(cal['labeled']) < maps  # the labeled maps, and unlabeled ones met
    ckpt = torch.load(wd / 'iter_2.pth', map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 2
    assert any(k.startswith('teacher.backbone.') for k in ckpt['state_dict'])


class _Runner:
    """The attributes ConfigCheckHook reads."""

    def __init__(self, model, train_dataset, cfg=None):
        self.model = model
        self.train_dataloader = type('DL', (), {'dataset': train_dataset})()
        self.cfg = cfg


def test_num_classes_that_do_not_match_the_dataset_fail(fake_roots):
    path = osp.join(ROOT, 'configs/supervised/'
                    'supervised_dpt-dinov2-s_4xb4-10k_potsdam-1pct-518x518.py')
    cfg = _config(path)
    cfg.model.backbone.init_cfg = None
    cfg.model.decode_head.num_classes = 6  # Potsdam (DWL) has 5
    cfg.train_dataloader.dataset.data_root = fake_roots['data/potsdam']
    runner = _Runner(MODELS.build(cfg.model), DATASETS.build(cfg.train_dataloader.dataset), cfg)
    with pytest.raises(ValueError, match=r'model.decode_head.num_classes is 6 .*'
                       r'PotsdamDWLDataset\) has 5 classes.*Fix: set'):
        ConfigCheckHook().before_train(runner)
    cfg.model.decode_head.num_classes = 5
    runner.model = MODELS.build(cfg.model)
    ConfigCheckHook().before_train(runner)  # passes


def test_crop_larger_than_the_padded_size_fails(fake_roots):
    path = osp.join(ROOT, 'configs/fixmatch/'
                    'fixmatch_dpt-dinov2-s_4xb8-10k_potsdam-1pct-518x518.py')
    cfg = _config(path)
    cfg.model.segmentor.backbone.init_cfg = None
    cfg.model.segmentor.data_preprocessor.size = (512, 512)
    for part in _datasets(cfg)[0]:
        part.data_root = fake_roots['data/potsdam']
    runner = _Runner(MODELS.build(cfg.model), DATASETS.build(cfg.train_dataloader.dataset), cfg)
    with pytest.raises(ValueError, match=r'RandomCrop\(crop_size=\(518, 518\)\).*'
                       r'size is \(512, 512\).*Fix: set model.data_preprocessor.size'):
        ConfigCheckHook().before_train(runner)


def test_docs_worked_example_for_a_new_dataset(tmp_path, tiny_clip_ckpt):
    """docs/training.md "Your own dataset, worked through": its dataset class,
    base and leaf config, written as a user would, build and yield samples."""
    page = open(osp.join(ROOT, 'docs', 'training.md')).read()
    section = page[page.index('## Your own dataset, worked through'):]
    blocks = re.findall(r'```python\n(.*?)```', section, re.S)[:3]
    dataset_py, base_py, leaf_py = (re.sub(r'(?m)^   ', '', b) for b in blocks)
    pkg = tmp_path / 'user'
    (pkg / 'configs/_base_/datasets').mkdir(parents=True)
    (pkg / 'configs/semiearth').mkdir(parents=True)
    (pkg / 'mycity.py').write_text(dataset_py)
    # the user's tree holds our _base_ files beside their own
    for sub in ('models', 'purifiers', 'schedules'):
        (pkg / 'configs/_base_' / sub).symlink_to(osp.join(ROOT, 'configs/_base_', sub))
    for name in ('rs_518x518.py', 'rs_semi_518x518.py'):
        (pkg / 'configs/_base_/datasets' / name).symlink_to(
            osp.join(ROOT, 'configs/_base_/datasets', name))
    (pkg / 'configs/_base_/default_runtime.py').symlink_to(
        osp.join(ROOT, 'configs/_base_/default_runtime.py'))
    (pkg / 'configs/_base_/datasets/mycity_semi_518x518.py').write_text(base_py)
    leaf = pkg / 'configs/semiearth/semiearth_dpt-dinov2-s_4xb8-5k_mycity-1pct-518x518.py'
    leaf.write_text(leaf_py)
    root = _fake_converted(tmp_path / 'data', 4, [f'c{i}' for i in range(6)])

    import sys
    sys.path.insert(0, str(pkg))
    try:
        import mycity  # noqa: F401  (what custom_imports does)
        cfg = Config.fromfile(str(leaf))
        assert cfg.custom_imports['imports'] == ['semiearth', 'mycity']
        for part in _datasets(cfg)[0]:
            part.data_root = root
        train = DATASETS.build(cfg.train_dataloader.dataset)
        assert train.labeled.metainfo['classes'] == ('road', 'building', 'tree', 'other')
        assert _branches(train[len(train) - 1]) == {'unsup_weak', 'unsup_strong'}
        cfg.model.segmentor.backbone.init_cfg = None
        cfg.model.purifier.vlm.update(model_name='tiny-clip', model_cfg=TINY_CLIP,
                                      pretrained=None, checkpoint=tiny_clip_ckpt)
        model = MODELS.build(cfg.model)
        assert model.student.decode_head.num_classes == 4
        assert model.purifier.class_keys == ['road', 'building', 'tree', 'other']
        runner = _Runner(model, train, cfg)
        # the calibrated rule's calibration: evidence='auto' (the default)
        # measures it before training (VLMEvidenceHook); 'cached' needs
        # tools/precompute_vlm.py first, and the check says so
        cfg.model.purifier.cache_dir = str(tmp_path / 'cache')
        ConfigCheckHook().before_train(_Runner(MODELS.build(cfg.model), train, cfg))
        cfg.model.purifier.evidence = 'cached'
        model = MODELS.build(cfg.model)
        runner = _Runner(model, train, cfg)
        with pytest.raises(FileNotFoundError, match='calibration.*precompute_vlm.py'):
            ConfigCheckHook().before_train(runner)
        from semiearth.vlm.evidence_cache import cache_key, write_calibration
        (tmp_path / 'cache').mkdir()
        labeled = [cache_key(train.labeled.get_data_info(i)['img_path'])
                   for i in range(len(train.labeled))]
        write_calibration(str(tmp_path / 'cache'), model.purifier.fingerprint,
                          model.purifier.class_keys, labeled, torch.full((4, 4), 0.25), [1] * 4)
        ConfigCheckHook().before_train(runner)  # classes, names and crop agree
    finally:
        sys.path.remove(str(pkg))

