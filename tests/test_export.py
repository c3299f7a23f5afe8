"""Export of a SemiEarth checkpoint's teacher/student as a plain mmseg model
(semiearth.apis.export, tools/model_converters/export_segmentor.py).

Small models built here (``init_cfg=None``, nothing downloaded) are wrapped in
SemiEarthSegmentor, their teacher perturbed away from the student, saved as a
training run saves them and exported; the exported model must predict what
the SemiEarth model predicted. Models made of mmseg components only run in a
fresh interpreter that never imports semiearth."""
import copy
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import FIXMATCH_CONFIG, ROOT
from mmengine.config import Config
from mmseg.apis import inference_model, init_model
from mmseg.registry import DATASETS, MODELS

from semiearth.apis.export import ExportError, export_segmentor

NC_CLASSES = ('developed', 'agriculture', 'herbaceous', 'shrubland', 'forest', 'water')
NC_PALETTE = [[230, 25, 75], [255, 225, 25], [170, 255, 195], [170, 110, 40],
              [0, 130, 0], [0, 90, 255]]
BN = dict(type='BN', requires_grad=True)


def _cli():
    spec = importlib.util.spec_from_file_location(
        'export_segmentor', osp.join(ROOT, 'tools/model_converters/export_segmentor.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _semi_cfg(segmentor: dict, mean: list, std: list, dataset: dict) -> Config:
    """A SemiEarth (FixMatch) config around ``segmentor`` with a test set."""
    return Config(dict(
        default_scope='mmseg',
        model=dict(type='SemiEarthSegmentor', segmentor=segmentor,
                   data_preprocessor=dict(type='SemiSegDataPreProcessor', mean=mean,
                                          std=std, bgr_to_rgb=False, pad_val=0,
                                          seg_pad_val=255),
                   semi_test_cfg=dict(predict_on='teacher'), purifier=None),
        # what the test feeds SemiEarth's model through inference_model
        test_pipeline=[dict(type='LoadImageFromFile'), dict(type='PackSegInputs')],
        test_dataloader=dict(batch_size=1, num_workers=0,
                             sampler=dict(type='DefaultSampler', shuffle=False),
                             dataset=dataset),
        test_evaluator=dict(type='ClassWiseIoUMetric', iou_metrics=['mIoU'])))


def _nc_dataset(data_root='data/nc_landsat') -> dict:
    return dict(type='NCLandsatDataset', data_root=data_root, ann_file='splits/test.txt',
                data_prefix=dict(img_path='img_dir/ms', seg_map_path='ann_dir'),
                pipeline=[dict(type='LoadRSImageFromFile', fix_hint='convert it'),
                          dict(type='LoadAnnotations'),
                          dict(type='CheckSegLabels', num_classes=6),
                          dict(type='PackSegInputs')])


def _trained(cfg: Config, path: str, meta: dict):
    """The SemiEarth model of ``cfg`` with a teacher that differs from the
    student (as after EMA training), saved as the runner saves it."""
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg.model))
    # as init_weights leaves it (its log is long): the teacher a copy of the student
    model.teacher.load_state_dict(model.student.state_dict())
    with torch.no_grad():
        for name, t in model.teacher.state_dict().items():
            if t.is_floating_point():
                t.add_(0.1 * torch.randn_like(t))
                if name.endswith('running_var'):
                    t.abs_()
    model.eval()
    torch.save(dict(meta=dict(meta, iter=7), state_dict=model.state_dict()), path)
    model.cfg = cfg
    return model


def _comments(text: str) -> str:
    """The comment lines of a config file as one line of text."""
    return ' '.join(line[2:] for line in text.splitlines() if line.startswith('# '))


def _write_rs_tiles(root, bands: int, n: int = 2, size: int = 32) -> None:
    """``n`` tiles of ``bands`` uint8 bands (.tif) with labels, in the layout
    SemiEarth's converters write."""
    import mmcv
    import tifffile
    rng = np.random.default_rng(0)
    for d in ('img_dir', 'ann_dir', 'splits'):
        (root / d).mkdir(parents=True, exist_ok=True)
    names = [f't{i}' for i in range(n)]
    for name in names:
        tifffile.imwrite(str(root / 'img_dir' / f'{name}.tif'),
                         rng.integers(0, 255, (size, size, bands), dtype=np.uint8))
        mmcv.imwrite(rng.integers(0, 4, (size, size), dtype=np.uint8),
                     str(root / 'ann_dir' / f'{name}.png'))
    (root / 'splits' / 'test.txt').write_text('\n'.join(names) + '\n')


# ------------------------------------------ exports run where only mmseg is
# makes semiearth and open_clip unimportable in a fresh interpreter (on PYTHONPATH)
BLOCKER = r'''
import sys


class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('semiearth', 'open_clip'):
            raise ModuleNotFoundError(f'{name} is blocked in this test')
        return None


sys.meta_path.insert(0, _Blocked())
'''

PLAIN_RUN = r'''
import json, sys
import numpy as np
import torch
from mmseg.apis import inference_model, init_model, show_result_pyplot
from mmseg.registry import DATASETS
from mmengine.registry import init_default_scope
jobs = json.loads(sys.argv[1])
out = {}
for job in jobs:
    model = init_model(job['config'], job['checkpoint'], device='cpu')
    img = np.load(job['image'])
    res = inference_model(model, img)
    r = dict(logits=res.seg_logits.data, pred=res.pred_sem_seg.data,
             mean=model.data_preprocessor.mean.flatten(), std=model.data_preprocessor.std.flatten(),
             classes=list(model.dataset_meta['classes']), palette=model.dataset_meta['palette'],
             backbone=type(model.backbone).__name__,
             backbone_module=type(model.backbone).__module__)
    if job.get('show'):
        show_result_pyplot(model, img, res, opacity=1.0, show=False, draw_gt=False,
                           with_labels=False, out_file=job['show'])
    if job.get('dataset'):
        init_default_scope('mmseg')
        ds = DATASETS.build(model.cfg.test_dataloader.dataset)
        item = ds[0]
        r.update(ds_type=type(ds).__name__, ds_len=len(ds), ds_inputs=item['inputs'],
                 ds_gt=item['data_samples'].gt_sem_seg.data)
    out[job['name']] = r
assert not [m for m in sys.modules if m.split('.')[0] in ('semiearth', 'open_clip')]
for name in ('semiearth', 'open_clip'):
    try:
        __import__(name)
        raise SystemExit(f'{name} imported')
    except ModuleNotFoundError:
        pass
torch.save(out, sys.argv[2])
'''


def test_exports_run_in_plain_mmseg_without_semiearth(tmp_path):
    """MobileNetV2 (3 bands), a 7-band ResNet and MiT, exported with no
    custom_imports, and a 6-band MultiBandMobileNetV2, exported with a
    standalone copy of its module: mmseg's init_model / inference_model, in
    an interpreter where semiearth and open_clip cannot be imported, run from
    another directory, give the teacher's logits and prediction, with the
    bands' mean/std, the classes and the palette (show_result_pyplot paints
    with it); the exported test set, built by mmseg, loads the tiles and
    labels SemiEarth's dataset loads."""
    data7 = tmp_path / 'data7'
    _write_rs_tiles(data7, bands=7)
    mean7, std7 = [float(10 * i + 5) for i in range(7)], [float(i + 20) for i in range(7)]
    rs4 = dict(type='RSSegDataset', data_root=str(data7), ann_file='splits/test.txt',
               data_prefix=dict(img_path='img_dir', seg_map_path='ann_dir'),
               img_suffix='.tif', seg_map_suffix='.png',
               metainfo=dict(classes=('a', 'b', 'c', 'd'),
                             palette=[[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]),
               pipeline=[dict(type='LoadRSImageFromFile'), dict(type='LoadAnnotations'),
                         dict(type='CheckSegLabels'), dict(type='PackSegInputs')])
    models = {
        'mbv2': (dict(
            type='EncoderDecoder',
            backbone=dict(type='MultiBandMobileNetV2', in_channels=3, widen_factor=0.5,
                          strides=(1, 2, 2, 2, 1, 1, 1), dilations=(1, 1, 1, 1, 1, 2, 2),
                          out_indices=(1, 6), norm_cfg=BN, init_cfg=None),
            decode_head=dict(type='DepthwiseSeparableASPPHead', in_channels=160, in_index=1,
                             channels=16, dilations=(1, 2), c1_in_channels=16,
                             c1_channels=8, num_classes=6, norm_cfg=BN, align_corners=False),
            test_cfg=dict(mode='whole')), [120.0, 110.0, 100.0], [50.0, 55.0, 60.0], 3,
            _nc_dataset(), dict(classes=NC_CLASSES, palette=NC_PALETTE)),
        'resnet7': (dict(
            type='EncoderDecoder',
            backbone=dict(type='ResNetV1c', depth=18, in_channels=7, stem_channels=16,
                          base_channels=8, out_indices=(3,), norm_cfg=BN, init_cfg=None),
            decode_head=dict(type='FCNHead', in_channels=64, in_index=0, channels=16,
                             num_convs=1, concat_input=False, num_classes=4, norm_cfg=BN,
                             align_corners=False),
            test_cfg=dict(mode='whole')), mean7, std7, 7, rs4, None),
        'mit': (dict(
            type='EncoderDecoder',
            backbone=dict(type='MixVisionTransformer', in_channels=3, embed_dims=8,
                          num_layers=[1, 1, 1, 1], num_heads=[1, 2, 4, 8], init_cfg=None),
            decode_head=dict(type='SegformerHead', in_channels=[8, 16, 32, 64],
                             in_index=[0, 1, 2, 3], channels=16, num_classes=6,
                             norm_cfg=BN, align_corners=False),
            test_cfg=dict(mode='whole')), [100.0] * 3, [50.0] * 3, 3, _nc_dataset(),
            dict(classes=NC_CLASSES, palette=NC_PALETTE)),
        'mbv2_6': (dict(
            type='EncoderDecoder',
            backbone=dict(type='MultiBandMobileNetV2', in_channels=6, widen_factor=0.25,
                          strides=(1, 2, 2, 2, 1, 1, 1), dilations=(1, 1, 1, 1, 1, 2, 2),
                          out_indices=(1, 6), norm_cfg=BN, init_cfg=None),
            decode_head=dict(type='DepthwiseSeparableASPPHead', in_channels=80, in_index=1,
                             channels=16, dilations=(1, 2), c1_in_channels=8,
                             c1_channels=8, num_classes=6, norm_cfg=BN, align_corners=False),
            test_cfg=dict(mode='whole')), [60.0, 70.0, 80.0, 100.0, 110.0, 90.0],
            [50.0, 51.0, 52.0, 53.0, 54.0, 55.0], 6, _nc_dataset(),
            dict(classes=NC_CLASSES, palette=NC_PALETTE)),
    }
    rng = np.random.default_rng(1)
    jobs, expected = [], {}
    for name, (seg, mean, std, bands, dataset, meta) in models.items():
        cfg = _semi_cfg(seg, mean, std, dataset)
        ckpt = str(tmp_path / f'{name}.pth')
        semi = _trained(cfg, ckpt, dict(dataset_meta=meta) if meta else {})
        result = export_segmentor(cfg, ckpt, str(tmp_path / name))
        assert result.model == 'teacher' and result.needs_semiearth == []
        exported = Config.fromfile(result.config)
        if name == 'mbv2_6':
            assert result.custom_imports == ['plain_multiband_mobilenet_v2']
            assert [osp.basename(c) for c in result.copies] == ['plain_multiband_mobilenet_v2.py']
        else:
            assert result.custom_imports == [] and 'custom_imports' not in exported
        assert exported.model.data_preprocessor.type == 'SegDataPreProcessor'
        assert exported.model.data_preprocessor.mean == mean
        assert exported.test_evaluator.type == 'IoUMetric'
        assert [t.type for t in exported.test_pipeline] == \
            ['LoadImageFromFile', 'LoadAnnotations', 'PackSegInputs']
        assert exported.test_pipeline[0].imdecode_backend == 'tifffile'
        img = rng.integers(0, 255, (64, 64, bands), dtype=np.uint8)
        np.save(tmp_path / f'{name}.npy', img)
        semi.semi_test_cfg['predict_on'] = 'student'
        student = inference_model(semi, img)
        semi.semi_test_cfg['predict_on'] = 'teacher'
        expected[name] = (inference_model(semi, img), student)
        jobs.append(dict(name=name, config=result.config, checkpoint=result.checkpoint,
                         image=str(tmp_path / f'{name}.npy'),
                         show=str(tmp_path / f'{name}.png') if name == 'mbv2' else None,
                         dataset=name == 'resnet7'))
    out = tmp_path / 'plain.pth'
    blocker = tmp_path / 'blocker'
    blocker.mkdir()
    (blocker / 'sitecustomize.py').write_text(BLOCKER)
    env = dict(os.environ, PYTHONPATH=str(blocker))
    proc = subprocess.run([sys.executable, '-W', 'ignore', '-c', PLAIN_RUN, json.dumps(jobs),
                           str(out)], capture_output=True, text=True, cwd=str(blocker), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = torch.load(out, weights_only=True)

    for name, (want, student) in expected.items():
        r = got[name]
        assert r['logits'].shape == want.seg_logits.data.shape == \
            (4 if name == 'resnet7' else 6, 64, 64), name
        assert torch.allclose(r['logits'], want.seg_logits.data, atol=1e-5), name
        assert torch.equal(r['pred'], want.pred_sem_seg.data), name
        # the teacher's, not the student's
        assert not torch.allclose(r['logits'], student.seg_logits.data, atol=1e-3), name
        mean, std = models[name][1], models[name][2]
        assert torch.allclose(r['mean'], torch.tensor(mean)), name
        assert torch.allclose(r['std'], torch.tensor(std)), name
    assert got['mbv2']['backbone'] == 'MobileNetV2'  # mmseg's own class
    assert got['mbv2_6']['backbone_module'] == 'plain_multiband_mobilenet_v2'  # the copy
    assert got['mbv2']['classes'] == list(NC_CLASSES) and got['mbv2']['palette'] == NC_PALETTE
    assert got['resnet7']['classes'] == ['a', 'b', 'c', 'd']
    assert got['resnet7']['palette'][3] == [10, 11, 12]
    assert got['mit']['backbone'] == 'MixVisionTransformer'
    # show_result_pyplot painted each pixel with its predicted class's colour
    import mmcv
    painted = mmcv.imread(str(tmp_path / 'mbv2.png'), channel_order='rgb')
    pred = got['mbv2']['pred'][0].numpy()
    assert (painted == np.array(NC_PALETTE)[pred]).all()
    # mmseg's BaseSegDataset from the exported config reads what RSSegDataset reads
    semi_ds = DATASETS.build(copy.deepcopy(models['resnet7'][4]))
    item = semi_ds[0]
    assert got['resnet7']['ds_type'] == 'BaseSegDataset' and got['resnet7']['ds_len'] == 2
    assert got['resnet7']['ds_inputs'].shape == (7, 32, 32)
    assert torch.equal(got['resnet7']['ds_inputs'], item['inputs'])
    assert torch.equal(got['resnet7']['ds_gt'], item['data_samples'].gt_sem_seg.data)


# ------------------------------------------------- the NC Landsat config, 6 bands
def test_nc_landsat_six_band_export_by_the_cli(tmp_path, capsys):
    """The FixMatch NC Landsat config's MobileNetV2 takes 6 bands, which
    mmseg's MobileNetV2 cannot: the backbone's module (standalone) is copied
    beside the exported config, which imports that copy (which imports
    nothing of SemiEarth); the 6 bands' mean/std survive; teacher and
    student exports predict what the SemiEarth model's teacher and student
    predict (also in this process, where SemiEarth registered the same
    class: the copy re-registers it); the checkpoint loads with
    weights_only=True. Without SemiEarth: the test above."""
    # the config's model at a quarter of its width (as the CLI's --cfg-options below)
    tiny = {'model.segmentor.backbone.widen_factor': 0.25,
            'model.segmentor.decode_head.in_channels': 80,
            'model.segmentor.decode_head.c1_in_channels': 8,
            'model.segmentor.decode_head.channels': 16,
            'model.segmentor.decode_head.c1_channels': 8}
    cfg = Config.fromfile(FIXMATCH_CONFIG)
    cfg.merge_from_dict(tiny)
    cfg.model.segmentor.backbone.init_cfg = None
    ckpt = str(tmp_path / 'run.pth')
    semi = _trained(cfg, ckpt, dict(dataset_meta=dict(classes=NC_CLASSES, palette=NC_PALETTE)))
    cli = _cli()
    out = {}
    for which in ('teacher', 'student'):
        assert cli.main([FIXMATCH_CONFIG, ckpt, str(tmp_path / 'out'), '--model', which,
                         '--cfg-options', *(f'{k}={v}' for k, v in tiny.items())]) == 0
        printed = capsys.readouterr().out
        assert 'runs with mmseg alone' in printed and 'plain_multiband_mobilenet_v2.py' in printed
        stem = osp.join(tmp_path, 'out', osp.basename(FIXMATCH_CONFIG)[:-3] + f'_{which}')
        out[which] = (stem + '.py', stem + '.pth')
    text = open(out['teacher'][0]).read()
    assert 'MultiBandMobileNetV2 (semiearth.models.backbones.multiband_mobilenet_v2)' \
        in _comments(text)
    exported = Config.fromfile(out['teacher'][0])
    assert exported.custom_imports == dict(imports=['plain_multiband_mobilenet_v2'],
                                           allow_failed_imports=False)
    copy_path = tmp_path / 'out' / 'plain_multiband_mobilenet_v2.py'
    assert 'semiearth' not in ''.join(
        line for line in copy_path.read_text().splitlines()
        if line.startswith(('import', 'from')))
    dp = exported.model.data_preprocessor
    assert dp.type == 'SegDataPreProcessor'
    assert dp.mean == [63.8, 70.9, 72.5, 105.8, 105.6, 90.1]
    assert dp.std == [57.7, 56.3, 58.0, 51.3, 56.8, 56.1]
    assert exported.model.backbone.in_channels == 6 and exported.model.backbone.init_cfg is None
    ds = exported.test_dataloader.dataset
    assert ds.type == 'BaseSegDataset' and ds.img_suffix == '.tif'
    assert ds.data_prefix == dict(img_path='img_dir/ms', seg_map_path='ann_dir')
    assert ds.metainfo.classes == list(NC_CLASSES)
    code = '\n'.join(line for line in text.splitlines() if not line.startswith('#'))
    assert 'CheckSegLabels' not in code and 'SemiEarthSegmentor' not in code
    assert 'LoadRSImageFromFile' not in code and 'NCLandsatDataset' not in code
    saved = torch.load(out['teacher'][1], weights_only=True)
    assert saved['meta']['dataset_meta']['classes'] == NC_CLASSES
    assert saved['meta']['semiearth_export']['model'] == 'teacher'
    assert saved['meta']['semiearth_export']['iter'] == 7
    assert set(saved['state_dict']) == set(semi.teacher.state_dict())

    img = np.random.default_rng(2).integers(0, 255, (32, 32, 6), dtype=np.uint8)
    # the SemiEarth model through the pipeline the exported config runs
    semi.cfg.test_pipeline = [dict(type='LoadImageFromFile'),
                              dict(type='Resize', scale=(128, 128), keep_ratio=True),
                              dict(type='PackSegInputs')]
    logits = {}
    for which, predict_on in (('teacher', 'teacher'), ('student', 'student')):
        plain = init_model(out[which][0], out[which][1], device='cpu')
        assert plain.dataset_meta['palette'] == NC_PALETTE
        semi.semi_test_cfg['predict_on'] = predict_on
        want = inference_model(semi, img)
        got = inference_model(plain, img)
        assert got.seg_logits.data.shape == (6, 32, 32)
        assert torch.allclose(got.seg_logits.data, want.seg_logits.data, atol=1e-5), which
        assert torch.equal(got.pred_sem_seg.data, want.pred_sem_seg.data), which
        logits[which] = got.seg_logits.data
    assert not torch.allclose(logits['teacher'], logits['student'], atol=1e-3)


def test_dinov2_export_imports_only_the_backbone_module(tmp_path):
    """SemiEarth's DINOv2ViT has no mmseg counterpart: the exported config's
    custom_imports is its module alone (commented), and the exported model
    predicts what the teacher predicts."""
    seg = dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                               test_cfg=dict(size_divisor=14)),
        backbone=dict(type='DINOv2ViT', arch=dict(embed_dims=32, num_layers=4, num_heads=2),
                      img_size=56, patch_size=14, out_indices=(0, 1, 2, 3),
                      output_cls_token=True, init_cfg=None),
        decode_head=dict(type='DPTHead', in_channels=(32, 32, 32, 32), in_index=(0, 1, 2, 3),
                         input_transform='multiple_select', embed_dims=32,
                         post_process_channels=[8, 16, 32, 32], channels=8,
                         readout_type='ignore', patch_size=14, expand_channels=False,
                         act_cfg=dict(type='ReLU'), norm_cfg=None, num_classes=6,
                         align_corners=False),
        test_cfg=dict(mode='whole'))
    cfg = _semi_cfg(seg, [123.675, 116.28, 103.53], [58.395, 57.12, 57.375], _nc_dataset())
    # the wrapper's preprocessor defaults to the wrapped segmentor's (zoo configs)
    cfg.model.data_preprocessor = None
    ckpt = str(tmp_path / 'dino.pth')
    semi = _trained(cfg, ckpt, {})  # no dataset_meta: the test set's classes are used
    result = export_segmentor(cfg, ckpt, str(tmp_path / 'out'))
    assert result.custom_imports == ['plain_dinov2_vit'] and result.needs_semiearth == []
    exported = Config.fromfile(result.config)
    assert exported.custom_imports.imports == ['plain_dinov2_vit']
    assert exported.model.data_preprocessor.test_cfg == dict(size_divisor=14)
    plain = init_model(result.config, result.checkpoint, device='cpu')
    assert plain.dataset_meta['classes'] == NC_CLASSES
    img = np.random.default_rng(3).integers(0, 255, (50, 60, 3), dtype=np.uint8)
    want, got = inference_model(semi, img), inference_model(plain, img)
    assert got.seg_logits.data.shape == (6, 50, 60)
    assert torch.allclose(got.seg_logits.data, want.seg_logits.data, atol=1e-5)
    assert torch.equal(got.pred_sem_seg.data, want.pred_sem_seg.data)


# ----------------------------------------------------------------------- errors
def _tiny_semi_cfg() -> Config:
    seg = dict(type='EncoderDecoder',
               backbone=dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=4,
                             out_indices=(3,), init_cfg=None),
               decode_head=dict(type='FCNHead', in_channels=32, in_index=0, channels=8,
                                num_convs=1, concat_input=False, num_classes=6))
    return _semi_cfg(seg, [0.0] * 3, [1.0] * 3, _nc_dataset())


def test_export_errors_name_the_file_and_the_fix(tmp_path, capsys):
    cfg = _tiny_semi_cfg()
    model = MODELS.build(copy.deepcopy(cfg.model))
    plain_ckpt = str(tmp_path / 'plain.pth')
    torch.save(dict(state_dict=model.teacher.state_dict()), plain_ckpt)
    with pytest.raises(ExportError, match=r"plain\.pth' is not a SemiEarth teacher-student "
                                          r"checkpoint: no 'teacher\.\*' or 'student\.\*'"):
        export_segmentor(cfg, plain_ckpt, str(tmp_path / 'out'))

    teacher_only = str(tmp_path / 'teacher_only.pth')
    torch.save(dict(state_dict={f'teacher.{k}': v for k, v in model.teacher.state_dict().items()}),
               teacher_only)
    with pytest.raises(ExportError, match=r"teacher_only\.pth' holds no student weights.*"
                                          r"it has: teacher\. Fix: --model teacher"):
        export_segmentor(cfg, teacher_only, str(tmp_path / 'out'), model='student')

    wrong = str(tmp_path / 'other_model.pth')  # a 4-class head
    other = _tiny_semi_cfg()
    other.model.segmentor.decode_head.num_classes = 4
    torch.save(dict(state_dict=MODELS.build(copy.deepcopy(other.model)).state_dict()), wrong)
    with pytest.raises(ExportError, match=r"other_model\.pth': its teacher weights do not fit "
                                          r'the model of'):
        export_segmentor(cfg, wrong, str(tmp_path / 'out'))

    plain_cfg = Config(dict(model=dict(cfg.model.segmentor)))
    with pytest.raises(ExportError, match=r"model\.type is 'EncoderDecoder', not "
                                          r"'SemiEarthSegmentor'"):
        export_segmentor(plain_cfg, plain_ckpt, str(tmp_path / 'out'))

    # the CLI: exit status 2 and the message on stderr, nothing written
    assert _cli().main([FIXMATCH_CONFIG, plain_ckpt, str(tmp_path / 'cli')]) == 2
    err = capsys.readouterr().err
    assert 'export_segmentor: error:' in err and 'plain.pth' in err
    assert not osp.exists(tmp_path / 'cli')


def test_dwl_export_is_plain_mmseg_without_the_pseudo_classifier(tmp_path):
    """A DWL model (pseudo-label classifier beside conv_seg in student and
    teacher, class memories in method_modules) exports as plain mmseg: the
    pseudo classifier's weights are dropped (and logged), mmseg's init_model
    loads the exported pair strictly, and it predicts what the DWL model's
    student (the model DWL keeps) predicts with its main classifier."""
    data = tmp_path / 'data'
    _write_rs_tiles(data, bands=3)
    dataset = dict(type='RSSegDataset', data_root=str(data), ann_file='splits/test.txt',
                   data_prefix=dict(img_path='img_dir', seg_map_path='ann_dir'),
                   img_suffix='.tif', seg_map_suffix='.png',
                   metainfo=dict(classes=('a', 'b', 'c', 'd')),
                   pipeline=[dict(type='LoadRSImageFromFile'), dict(type='LoadAnnotations'),
                             dict(type='PackSegInputs')])
    seg = dict(type='EncoderDecoder',
               backbone=dict(type='MobileNetV2', widen_factor=0.25,
                             strides=(1, 2, 2, 1, 1, 1, 1), out_indices=(1, 6), norm_cfg=BN),
               decode_head=dict(type='DepthwiseSeparableASPPHead', in_channels=80,
                                in_index=1, channels=16, dilations=(1, 2), c1_in_channels=8,
                                c1_channels=8, num_classes=4, norm_cfg=BN,
                                align_corners=False),
               test_cfg=dict(mode='whole'))
    cfg = _semi_cfg(seg, [100.0] * 3, [50.0] * 3, dataset)
    cfg.model.semi_method = dict(type='DWL')
    cfg.model.semi_test_cfg = dict(predict_on='student')
    ckpt = str(tmp_path / 'dwl.pth')
    semi = _trained(cfg, ckpt, dict(dataset_meta=dict(classes=('a', 'b', 'c', 'd'))))
    saved = torch.load(ckpt, weights_only=False)['state_dict']
    assert 'student.decode_head.conv_seg.pseudo.weight' in saved
    assert 'method_modules.weighting.memory_values' in saved
    result = export_segmentor(cfg, ckpt, str(tmp_path / 'out'))
    assert result.model == 'student'
    exported = torch.load(result.checkpoint, weights_only=False)['state_dict']
    assert not [k for k in exported if 'pseudo' in k or 'method_modules' in k]
    assert 'decode_head.conv_seg.weight' in exported
    plain = init_model(result.config, result.checkpoint, device='cpu')
    assert type(plain.decode_head.conv_seg) is torch.nn.Conv2d
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    got, want = inference_model(plain, img), inference_model(semi, img)
    assert torch.allclose(got.seg_logits.data, want.seg_logits.data, atol=1e-5)


def test_export_default_follows_the_configs_predict_on(tmp_path, capsys):
    """Without --model the CLI exports the model the config predicts with
    (``semi_test_cfg.predict_on``): FixMatch's EMA teacher, UniMatch's
    student (its pseudo-labels come from the online model); the exported
    weights are that model's."""
    unimatch = osp.join(ROOT, 'configs', 'unimatch',
                        'unimatch_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py')
    tiny = {'model.segmentor.backbone.widen_factor': 0.25,
            'model.segmentor.decode_head.in_channels': 80,
            'model.segmentor.decode_head.c1_in_channels': 8,
            'model.segmentor.decode_head.channels': 16,
            'model.segmentor.decode_head.c1_channels': 8}
    cli = _cli()
    for config, which in ((FIXMATCH_CONFIG, 'teacher'), (unimatch, 'student')):
        cfg = Config.fromfile(config)
        assert cfg.model.semi_test_cfg.predict_on == which
        cfg.merge_from_dict(tiny)
        cfg.model.segmentor.backbone.init_cfg = None
        ckpt = str(tmp_path / f'{which}_run.pth')
        semi = _trained(cfg, ckpt, dict(dataset_meta=dict(classes=NC_CLASSES,
                                                          palette=NC_PALETTE)))
        assert cli.main([config, ckpt, str(tmp_path / which), '--cfg-options',
                         *(f'{k}={v}' for k, v in tiny.items())]) == 0
        assert f'exported the {which} of {ckpt}' in capsys.readouterr().out
        stem = osp.join(tmp_path, which, osp.basename(config)[:-3] + f'_{which}')
        saved = torch.load(stem + '.pth', weights_only=True)
        assert saved['meta']['semiearth_export']['model'] == which
        want = getattr(semi, which).state_dict()
        assert set(saved['state_dict']) == set(want)
        assert all(torch.equal(saved['state_dict'][k], v) for k, v in want.items())
