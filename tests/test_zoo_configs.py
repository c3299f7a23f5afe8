"""The config zoo: every config's name states its settings, every model
builds and predicts its dataset's classes, every data pipeline runs on fake
converted data, the smallest paper config trains a step, and the config
checks (num_classes, crop size) fail clearly."""
import glob
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
# {method}_{backbone}_{gpus}xb{batch}-{schedule}_{dataset}-{ratio}-{crop}.py
NAME = re.compile(r'^(?P<method>supervised|fixmatch|semiearth)_(?P<backbone>[a-z0-9.\-]+)_'
                  r'(?P<gpus>\d+)xb(?P<batch>\d+)-(?P<iters>\d+)(?P<unit>k|i)_'
                  r'(?P<dataset>[a-z]+)-(?P<ratio>\d+pct|1of\d+)-(?P<h>\d+)x(?P<w>\d+)$')
RATIOS = {'1pct', '5pct', '10pct', '1of4', '1of8'}


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


def test_the_zoo_covers_the_protocol():
    names = set(IDS)
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


@pytest.mark.parametrize('path', CONFIGS, ids=IDS)
def test_config_name_states_its_settings(path):
    m = NAME.match(osp.basename(path)[:-3])
    assert m, f'{path} is not named the mmseg way'
    cfg = Config.fromfile(path)
    assert 'semiearth' in cfg.custom_imports['imports']
    assert any(h['type'] == 'ConfigCheckHook' for h in cfg.custom_hooks)
    semi = m['method'] != 'supervised'
    assert (cfg.model.type == 'SemiEarthSegmentor') == semi
    assert bool(cfg.model.get('purifier')) == (m['method'] == 'semiearth')
    batch = cfg.train_dataloader.sampler.batch_size if semi else cfg.train_dataloader.batch_size
    assert batch == int(m['batch'])
    iters = int(m['iters']) * (1000 if m['unit'] == 'k' else 1)
    assert cfg.train_cfg.max_iters == iters
    assert cfg.param_scheduler['end'] == iters
    crop = (int(m['h']), int(m['w']))
    assert set(_crops(cfg.train_dataloader)) == {crop}
    train_parts, val = _datasets(cfg)
    assert m['ratio'] in RATIOS
    assert m['ratio'] in train_parts[0].ann_file
    if semi:
        assert train_parts[1].ann_file == train_parts[0].ann_file.replace('labeled', 'unlabeled')
    data_root = {p.data_root for p in train_parts} | {val.data_root}
    assert len(data_root) == 1 and m['dataset'].replace('nclandsat', 'nc_landsat') in data_root.pop()
    classes = DATASETS.get(val.type).METAINFO['classes']
    seg = _seg(cfg)
    assert seg.decode_head.num_classes == len(classes)
    if 'auxiliary_head' in seg:
        assert seg.auxiliary_head.num_classes == len(classes)
    if m['method'] == 'semiearth':
        keys, _ = resolve_class_names(cfg.model.purifier.vlm.class_names)
        check_class_names(keys, classes, where=path)
        assert cfg.model.purifier.cache_dir.startswith(val.data_root)
        # one threshold: the segmentor's; no rule carries a copy of it
        assert 'conf_thresh' not in cfg.model.purifier.rule
    # cross-entropy averages over labeled pixels (UniMatch-V2's
    # nn.CrossEntropyLoss(ignore_index=255)) in every head of every config
    for head, loss in _head_losses(seg):
        if loss.type == 'CrossEntropyLoss':
            assert loss.get('avg_non_ignore') is True, (path, head)


def _as_list(x):
    return x if isinstance(x, (list, tuple)) else [x]


def _head_losses(seg):
    """(head name, loss config) of every decode / auxiliary head."""
    return [(name, loss) for name in ('decode_head', 'auxiliary_head') if seg.get(name)
            for head in _as_list(seg[name]) for loss in _as_list(head.loss_decode)]


def _unique_segmentors():
    by_key = defaultdict(list)
    for path in CONFIGS:
        cfg = Config.fromfile(path)
        seg = _seg(cfg)
        seg.backbone.init_cfg = None  # weights are tested elsewhere
        by_key[repr(seg.to_dict())].append(path)
    return [v[0] for v in by_key.values()]


@pytest.mark.parametrize('path', _unique_segmentors(),
                         ids=lambda p: osp.basename(p)[:-3])
def test_every_segmentor_predicts_its_classes(path):
    """One forward per distinct segmentor (the wrappers are built below)."""
    cfg = Config.fromfile(path)
    seg = _seg(cfg)
    seg.backbone.init_cfg = None
    if cfg.model.type == 'SemiEarthSegmentor' and 'data_preprocessor' not in seg:
        seg.data_preprocessor = cfg.model.data_preprocessor
    model = MODELS.build(seg).eval()
    crop = next(_crops(cfg.train_dataloader))
    n_bands = len(model.data_preprocessor.mean.flatten())
    torch.manual_seed(0)
    with torch.no_grad():
        out = model(torch.rand(1, n_bands, *crop), mode='tensor')
    n_classes = len(DATASETS.get(cfg.val_dataloader.dataset.type).METAINFO['classes'])
    assert out.shape[:2] == (1, n_classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize('path', [p for p in CONFIGS if 'semiearth_' in osp.basename(p)
                                  or 'fixmatch_' in osp.basename(p)],
                         ids=lambda p: osp.basename(p)[:-3])
def test_every_semi_wrapper_builds(path):
    cfg = Config.fromfile(path)
    _seg(cfg).backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    assert type(model.data_preprocessor).__name__ == 'SemiSegDataPreProcessor'
    crop = next(_crops(cfg.train_dataloader))
    assert tuple(model.data_preprocessor.size) == crop
    assert (model.purifier is not None) == ('semiearth_' in osp.basename(path))
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
    """data_root -> fake converted data, for every RS dataset of the zoo."""
    roots = {}
    for path in CONFIGS:
        val = Config.fromfile(path).val_dataloader.dataset
        if val.data_root in roots or 'nc_landsat' in val.data_root:
            continue
        n = len(DATASETS.get(val.type).METAINFO['classes'])
        tmp = tmp_path_factory.mktemp(osp.basename(val.data_root))
        roots[val.data_root] = _fake_converted(tmp, n, [f'crop_{i}' for i in range(6)])
    return roots


RS_CONFIGS = [p for p in CONFIGS if 'nclandsat' not in p]


@pytest.mark.parametrize('path', RS_CONFIGS, ids=lambda p: osp.basename(p)[:-3])
def test_every_pipeline_runs_on_converted_data(path, fake_roots):
    cfg = Config.fromfile(path)
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
        assert _branches(samples[1]) == {'unsup_weak', 'unsup_strong'}
        weak = samples[1]['data_samples']['unsup_weak']
        assert 'valid_mask' in weak and 'src_coords' in weak
    val_sample = DATASETS.build(val)[0]
    assert val_sample['inputs'].shape == (3, 64, 64)
    labels = set(np.unique(val_sample['data_samples'].gt_sem_seg.data.numpy()))
    n_classes = len(DATASETS.get(val.type).METAINFO['classes'])
    assert 255 in labels and labels <= set(range(n_classes)) | {255}


SMALLEST = osp.join(ROOT, 'configs/semiearth/'
                    'semiearth_dpt-dinov2-s_4xb8-4k_vaihingen-1of8-518x518.py')


def test_smallest_paper_config_trains_a_step(fake_roots, tiny_clip_ckpt, tmp_path):
    """SemiEarth with DINOv2-S + DPT at 518 on (fake) Vaihingen: one real
    training iteration through the Runner: hooks, EMA teacher, purifier
    (a tiny random CLIP, online evidence), optimizer."""
    cfg = Config.fromfile(SMALLEST)
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
    """What a user runs on a paper config: ``tools/precompute_vlm.py`` then
    ``bash tools/dist_train.sh CONFIG 2`` (two DDP processes; gloo on this
    CPU machine) with the config's cached evidence, two iterations and a
    teacher/student validation. DDP would fail here on a trainable parameter
    without a gradient, a rank that builds a different model, or evidence
    missing from the cache."""
    root = fake_roots['data/vaihingen']
    cache = str(tmp_path / 'cache')
    config = write_semiearth_config(tmp_path / 'cfg.py', root, cache, tiny_clip_ckpt,
                                    base=SMALLEST)
    tiny = ['model.purifier.vlm.window=None']
    pre = run_tool([sys.executable, 'tools/precompute_vlm.py', config, '--cfg-options', *tiny])
    assert len(glob.glob(osp.join(cache, '*'))) >= 2, pre.stdout[-2000:]
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
                'student/mIoU'):
        assert key in log, key
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
    cfg = Config.fromfile(path)
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
    cfg = Config.fromfile(path)
    cfg.model.segmentor.backbone.init_cfg = None
    cfg.model.segmentor.data_preprocessor.size = (512, 512)
    for part in _datasets(cfg)[0]:
        part.data_root = fake_roots['data/potsdam']
    runner = _Runner(MODELS.build(cfg.model), DATASETS.build(cfg.train_dataloader.dataset), cfg)
    with pytest.raises(ValueError, match=r'RandomCrop\(crop_size=\(518, 518\)\).*'
                       r'size is \(512, 512\).*Fix: set model.data_preprocessor.size'):
        ConfigCheckHook().before_train(runner)


def test_readme_worked_example_for_a_new_dataset(tmp_path, tiny_clip_ckpt):
    """README "Your own dataset, worked through": its dataset class, base and
    leaf config, written as a user would, build and yield samples."""
    readme = open(osp.join(ROOT, 'README.md')).read()
    section = readme[readme.index('### Your own dataset, worked through'):]
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
        # the calibrated rule's calibration comes from tools/precompute_vlm.py,
        # the README's next step: before it, the check says so
        cfg.model.purifier.cache_dir = str(tmp_path / 'cache')
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

