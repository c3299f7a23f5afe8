"""Whole-scene GeoTIFF inference (semiearth.apis.scene_inference,
tools/inference_scene.py) and the quick start's scene maps, on tiny random
models (nothing downloaded)."""
import json
import os.path as osp
import sys
import tracemalloc

import numpy as np
import pytest
import rasterio
import torch
from mmengine.config import Config, ConfigDict
from mmseg.registry import MODELS
from rasterio.transform import from_origin

from conftest import FIXMATCH_CONFIG, ROOT, SUP_CONFIG

sys.path.insert(0, osp.join(ROOT, 'tools'))
import quickstart  # noqa: E402
from semiearth.apis import inference_scene, init_scene_model  # noqa: E402
from semiearth.apis.scene_windows import window_starts  # noqa: E402

NC_META = dict(classes=('developed', 'agriculture', 'herbaceous', 'shrubland', 'forest',
                        'water'),
               palette=[[230, 25, 75], [255, 225, 25], [170, 255, 195], [170, 110, 40],
                        [0, 130, 0], [0, 90, 255]])
# MobileNetV2 at width 0.25: layer 2 has 8 channels, layer 7 has 80
TINY = dict(backbone=dict(widen_factor=0.25, init_cfg=None),
            decode_head=dict(in_channels=80, c1_in_channels=8, channels=16, c1_channels=8))
CRS = 'EPSG:32119'
TRANSFORM = from_origin(630534.0, 228114.0, 28.5, 28.5)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on the 2 shared cores, two OpenMP threads ran these
    small convolutions 5x slower than one."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _config(tmp, name, base, semi=False):
    model = dict(segmentor=TINY) if semi else dict(TINY)
    path = tmp / name
    path.write_text(f'_base_ = [{base!r}]\nmodel = {model!r}\n')
    return str(path)


def _random_weights(model, seed):
    """BN statistics and a classifier with a real spread of logits (default
    init gives near-ties everywhere)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1, generator=g)
            m.running_var.uniform_(0.5, 2, generator=g)
        if isinstance(m, torch.nn.Conv2d) and m.out_channels == 6:
            m.weight.data.normal_(0, 1, generator=g)


def _checkpoint(config, path, seed=0, biases=None):
    """Save an untrained model of ``config``; ``biases``: {'teacher': cls,
    'student': cls} makes that half predict class ``cls`` everywhere."""
    cfg = Config.fromfile(config)
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    _random_weights(model, seed)
    for half, cls in (biases or {}).items():
        bias = getattr(model, half).decode_head.conv_seg.bias
        bias.data.zero_()
        bias.data[cls] = 1e4
    torch.save({'state_dict': model.state_dict(), 'meta': {'dataset_meta': NC_META}}, path)
    return str(path)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('scene_models')
    sup = _config(tmp, 'sup.py', SUP_CONFIG)
    semi = _config(tmp, 'semi.py', FIXMATCH_CONFIG, semi=True)
    return dict(tmp=tmp, sup=sup, semi=semi,
                sup_ckpt=_checkpoint(sup, tmp / 'sup.pth'),
                semi_ckpt=_checkpoint(semi, tmp / 'semi.pth', seed=1,
                                      biases={'teacher': 5, 'student': 0}))


def _write(path, arr, nodata=None):
    with rasterio.open(path, 'w', driver='GTiff', height=arr.shape[1], width=arr.shape[2],
                       count=arr.shape[0], dtype=arr.dtype, crs=CRS, transform=TRANSFORM,
                       nodata=nodata) as dst:
        dst.write(arr)
    return str(path)


def _synthetic(h, w, seed=0):
    """Smooth random uint8 bands (blocks of 16 px plus noise)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(1, 256, (6, h // 16 + 1, w // 16 + 1))
    arr = np.repeat(np.repeat(coarse, 16, 1), 16, 2)[:, :h, :w]
    return np.clip(arr + rng.integers(-20, 21, arr.shape), 1, 255).astype(np.uint8)


class RecordingReader:
    """A rasterio dataset that remembers every window it is asked for."""

    def __init__(self, src):
        self._src = src
        self.windows = []

    def __getattr__(self, name):
        return getattr(self._src, name)

    def read(self, *args, window=None, **kwargs):
        assert window is not None, 'the whole raster was read'
        self.windows.append((int(window.col_off), int(window.row_off),
                             int(window.width), int(window.height)))
        return self._src.read(*args, window=window, **kwargs)


class FailingReader(RecordingReader):
    """Fails in the second row-strip, after the first strip's rows are written."""

    def read(self, *args, window=None, **kwargs):
        if len(self.windows) >= 4:
            raise OSError('disk gone')
        return super().read(*args, window=window, **kwargs)


def test_window_starts_as_mmseg_slide():
    assert window_starts(700, 128, 96) == [0, 96, 192, 288, 384, 480, 572]
    assert window_starts(100, 100, 75) == [0]
    assert window_starts(300, 128, 128) == [0, 128, 172]


def test_bigger_than_a_window_equals_mmseg_slide_inference(tiny, tmp_path):
    """700 x 900 px, 128-px windows overlapping 32: the same class map and
    confidence as mmseg's slide mode on the whole image, while the file is
    only ever read one window at a time and no scene-sized array is held."""
    arr = _synthetic(700, 900)
    path = _write(tmp_path / 'big.tif', arr)
    model = init_scene_model(tiny['sup'], tiny['sup_ckpt'])
    assert model.which == 'single'
    out, conf = str(tmp_path / 'map.tif'), str(tmp_path / 'conf.tif')
    with rasterio.open(path) as src:
        reader = RecordingReader(src)
        tracemalloc.start()
        res = inference_scene(model, reader, out, window=128, overlap=32, scale_factor=1,
                              batch_size=4, confidence_path=conf, progress=False)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    ys, xs = window_starts(700, 128, 96), window_starts(900, 128, 96)
    assert res['windows'] == res['windows_run'] == len(ys) * len(xs) == 70
    assert sorted(reader.windows) == sorted((x, y, 128, 128) for y in ys for x in xs)
    # numpy memory held: a few row-strips of logits (6 x 128 x 900 float32 = 2.8 MB
    # each; the strip sum, one batch's logits, the finished rows); the whole
    # scene's averaged logits alone would take 6 x 700 x 900 float32 = 15 MB
    strip = 6 * 128 * 900 * 4
    assert peak < 3 * strip < 6 * 700 * 900 * 4 / 1.5, peak

    # mmseg: the whole image normalised, slide_inference with crop 128, stride 96
    model.test_cfg = ConfigDict(mode='slide', crop_size=(128, 128), stride=(96, 96))
    x = model.data_preprocessor(dict(inputs=[torch.from_numpy(arr)]), False)['inputs']
    with torch.no_grad():
        logits = model.slide_inference(x, [dict(img_shape=(700, 900), ori_shape=(700, 900))])[0]
    ref_cls = logits.argmax(0).numpy()
    ref_conf = torch.softmax(logits, 0).amax(0).numpy()
    with rasterio.open(out) as f:
        got = f.read(1)
        assert (f.crs.to_string(), f.transform, f.shape) == (CRS, TRANSFORM, (700, 900))
    with rasterio.open(conf) as f:
        got_conf = f.read(1)
    np.testing.assert_allclose(got_conf, ref_conf, atol=1e-5)
    # argmax of logits equal to ~1e-6: allow only pixels whose top two logits tie
    top2 = torch.topk(logits, 2, dim=0).values
    tie = (top2[0] - top2[1]).numpy() < 1e-4
    assert np.array_equal(got[~tie], ref_cls[~tie])
    assert tie.mean() < 1e-3
    assert len(np.unique(got)) >= 3  # a real map, not one class


def test_nodata_every_band_and_override(tiny, tmp_path):
    """GDAL's dataset mask: a pixel is nodata where every band holds the
    nodata value (one band at 0 is a valid, dark pixel); windows with no
    valid pixel are skipped; --nodata V applies the same rule to a file
    without nodata."""
    arr = _synthetic(200, 260, seed=1)
    arr[2, 10:20, 30:50] = 0  # one band at the nodata value: still valid
    arr[:, 100:200, 0:130] = 0  # a corner of nodata in every band: whole windows skipped
    model = init_scene_model(tiny['sup'], tiny['sup_ckpt'])
    path = _write(tmp_path / 'nd.tif', arr, nodata=0)
    out = str(tmp_path / 'map.tif')
    res = inference_scene(model, path, out, window=64, overlap=16, scale_factor=1,
                          progress=False)
    bad = (arr == 0).all(0)
    with rasterio.open(out) as f:
        got = f.read(1)
        assert f.nodata == 255 and 'every band' in f.tags()['validity']
    assert np.array_equal(got == 255, bad)
    assert got[~bad].max() < 6
    assert res['nodata_pixels'] == int(bad.sum()) and res['windows_all_nodata'] > 0
    assert sum(res['class_pixels'].values()) == int((~bad).sum())
    # no nodata in the file: nothing is masked unless a value is given
    path2 = _write(tmp_path / 'no_nd.tif', arr)
    res2 = inference_scene(model, path2, str(tmp_path / 'm2.tif'), window=64, overlap=16,
                           scale_factor=1, progress=False)
    assert res2['nodata_pixels'] == 0 and res2['nodata'] is None
    res3 = inference_scene(model, path2, str(tmp_path / 'm3.tif'), window=64, overlap=16,
                           scale_factor=1, nodata=0, progress=False)
    assert res3['nodata_pixels'] == int(bad.sum())
    with rasterio.open(str(tmp_path / 'm3.tif')) as f:
        assert np.array_equal(f.read(1), got)


@pytest.fixture(scope='module')
def masked_scene():
    """A 6-band scene with values 1..254, a nodata region (an irregular
    blob), and valid pixels saturated (255) or dark (0) in one band."""
    arr = _synthetic(72, 100, seed=4).clip(1, 254)
    yy, xx = np.mgrid[:72, :100]
    nodata = ((yy - 20) ** 2 + (xx - 30) ** 2 < 15 ** 2) | (xx >= 90)
    saturated = np.zeros_like(nodata)
    saturated[50:60, 40:70] = True
    arr[3][saturated] = 255
    arr[1, 60:66, 10:30] = 0
    return arr, nodata, saturated


def _map(model, path, tmp_path, name, **kw):
    out, conf = str(tmp_path / f'{name}.tif'), str(tmp_path / f'{name}_conf.tif')
    res = inference_scene(model, path, out, window=32, overlap=8, scale_factor=4,
                          confidence_path=conf, progress=False, **kw)
    with rasterio.open(out) as f, rasterio.open(conf) as c:
        return f.read(1), c.read(1), res


def test_nodata_encodings_give_the_same_map(tiny, masked_scene, tmp_path):
    """The same scene with nodata stored as uint8 0, uint8 255 and float32
    -9999: the identical map and confidence (nodata pixels reach the model
    as the normalisation mean, whatever the file stores there); 255 exactly
    on nodata; pixels saturated or dark in one band stay valid."""
    arr, nodata, saturated = masked_scene
    model = init_scene_model(tiny['sup'], tiny['sup_ckpt'])
    encodings = {'uint8_0': (arr.copy(), 0), 'uint8_255': (arr.copy(), 255),
                 'float32': (arr.astype(np.float32), -9999.0)}
    maps = {}
    for name, (a, value) in encodings.items():
        a[:, nodata] = value
        with pytest.warns(UserWarning, match='float32') if a.dtype != np.uint8 else \
                _no_warning():
            maps[name] = _map(model, _write(tmp_path / f'{name}.tif', a, nodata=value),
                              tmp_path, f'map_{name}')
    ref_cls, ref_conf, res = maps['uint8_0']
    assert np.array_equal(ref_cls == 255, nodata)
    assert ref_cls[~nodata].max() < 6 and not (ref_cls[saturated] == 255).any()
    assert res['nodata_pixels'] == int(nodata.sum())
    for name, (cls, conf, _) in maps.items():
        assert np.array_equal(cls, ref_cls), name
        assert np.array_equal(conf, ref_conf), name
    # what the model saw under the nodata: the mean, not the stored value
    filled = arr.astype(np.float32)
    filled[:, nodata] = model.data_preprocessor.mean.flatten().numpy()[:, None]
    no_nd = _write(tmp_path / 'filled.tif', filled)
    with pytest.warns(UserWarning, match='float32'):
        cls, _, _ = _map(model, no_nd, tmp_path, 'map_filled')
    assert np.array_equal(cls[~nodata], ref_cls[~nodata])


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_mask_band_and_alpha_are_honoured(tiny, masked_scene, tmp_path):
    """A scene whose nodata is an internal mask band (values under it are
    arbitrary), and the same scene as 6 bands + alpha: 255 exactly where the
    mask says, the alpha band is not fed to the model, and the map is the
    nodata-value encoding's."""
    arr, nodata, _ = masked_scene
    model = init_scene_model(tiny['sup'], tiny['sup_ckpt'])
    a = arr.copy()
    a[:, nodata] = 0
    ref_cls, ref_conf, _ = _map(model, _write(tmp_path / 'nd.tif', a, nodata=0), tmp_path, 'ref')
    garbage = arr.copy()
    garbage[:, nodata] = np.random.default_rng(0).integers(0, 256, (6, int(nodata.sum())))
    masked = str(tmp_path / 'masked.tif')
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(masked, 'w', driver='GTiff', height=72, width=100, count=6,
                           dtype='uint8', crs=CRS, transform=TRANSFORM) as dst:
            dst.write(garbage)
            dst.write_mask(np.where(nodata, 0, 255).astype(np.uint8))
    assert not osp.exists(masked + '.msk')  # internal
    cls, conf, res = _map(model, masked, tmp_path, 'out_masked')
    assert res['validity'] == 'mask band'
    assert np.array_equal(cls, ref_cls) and np.array_equal(conf, ref_conf)
    alpha = str(tmp_path / 'alpha.tif')
    from rasterio.enums import ColorInterp
    with rasterio.open(alpha, 'w', driver='GTiff', height=72, width=100, count=7,
                       dtype='uint8', crs=CRS, transform=TRANSFORM) as dst:
        dst.colorinterp = [ColorInterp.gray] + [ColorInterp.undefined] * 5 + [ColorInterp.alpha]
        dst.write(np.concatenate([garbage, np.where(nodata, 0, 255)[None]]).astype(np.uint8))
    cls, conf, res = _map(model, alpha, tmp_path, 'out_alpha')
    assert res['validity'] == 'alpha band'
    assert np.array_equal(cls, ref_cls) and np.array_equal(conf, ref_conf)


def test_teacher_by_default_student_on_request(tiny, tmp_path):
    path = _write(tmp_path / 's.tif', _synthetic(40, 50))
    maps = {}
    for which in (None, 'teacher', 'student'):
        model = init_scene_model(tiny['semi'], tiny['semi_ckpt'], which=which)
        out = str(tmp_path / f'{which}.tif')
        inference_scene(model, path, out, window=32, overlap=8, scale_factor=1,
                        progress=False)
        with rasterio.open(out) as f:
            maps[which] = np.unique(f.read(1)).tolist()
    assert maps == {None: [5], 'teacher': [5], 'student': [0]}
    # a plain config takes either half of a teacher-student checkpoint
    assert init_scene_model(tiny['sup'], tiny['semi_ckpt'], which='student').which == 'student'
    with pytest.raises(ValueError, match=r"sup\.pth' holds a single model.*Fix: leave --model"):
        init_scene_model(tiny['sup'], tiny['sup_ckpt'], which='student')


def test_errors_name_file_value_and_fix(tiny, tmp_path):
    model = init_scene_model(tiny['sup'], tiny['sup_ckpt'])
    rgb = _write(tmp_path / 'rgb.tif', _synthetic(40, 40)[:3])
    with pytest.raises(ValueError, match=r"rgb\.tif' has 3 band\(s\); the model of .*sup\.py "
                       r'takes 6.*Fix: .*--write-scene-input'):
        inference_scene(model, rgb, str(tmp_path / 'o.tif'), scale_factor=1, progress=False)
    with pytest.raises(ValueError, match=r'would overwrite the input'):
        inference_scene(model, rgb, rgb, scale_factor=1, progress=False)
    # the scale factor comes from the test data, which is not there
    six = _write(tmp_path / 'six.tif', _synthetic(40, 40))
    nowhere = init_scene_model(tiny['sup'], tiny['sup_ckpt'], cfg_options={
        'test_dataloader.dataset.data_root': str(tmp_path / 'nowhere')})
    with pytest.raises(FileNotFoundError,
                       match=r"data_root '.*nowhere'.*--scale-factor S \(4 for the NC Landsat"):
        inference_scene(nowhere, six, str(tmp_path / 'o.tif'), progress=False)
    # a read error half-way leaves no half-written map behind
    with rasterio.open(six) as src:
        reader = FailingReader(src)
        out = tmp_path / 'half.tif'
        with pytest.raises(OSError, match='disk gone'):
            inference_scene(model, reader, str(out), window=16, overlap=0, scale_factor=1,
                            confidence_path=str(tmp_path / 'half_conf.tif'), progress=False)
    assert not out.exists() and not (tmp_path / 'half_conf.tif').exists()
    with pytest.raises(ValueError, match=r"sup\.pth': its weights do not fit the model of "
                       r'.*sup\.py.*conv_seg.*Fix'):
        init_scene_model(tiny['sup'], tiny['sup_ckpt'],
                         cfg_options={'model.decode_head.num_classes': 5})
    with pytest.raises(ValueError, match=r"semi\.pth': its teacher weights do not fit the "
                       r'model of .*sup\.py'):
        init_scene_model(tiny['sup'], tiny['semi_ckpt'],
                         cfg_options={'model.decode_head.channels': 8})


@pytest.fixture(scope='module')
def scene_tif(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('scene') / 'scene_input_ms6.tif')
    img, label = quickstart.write_scene_input(path)
    return path, img, label


def test_embedded_scene_as_the_test_tiles(tiny, nc_data, scene_tif, tmp_path):
    """The NC Landsat scene: same grid as the input, classes in range, 255
    exactly on nodata, colour table; and with tile-aligned windows the map
    of each test tile not overlapped by the edge-flush windows is what
    mmseg's inference_model gives on the tile file (same bands, stretch and
    x4 resize as in training) up to near-ties."""
    from mmseg.apis import inference_model
    path, img, _ = scene_tif
    model = init_scene_model(tiny['sup'], tiny['sup_ckpt'], cfg_options={
        'test_dataloader.dataset.data_root': nc_data})
    out, conf = str(tmp_path / 'map.tif'), str(tmp_path / 'conf.tif')
    res = inference_scene(model, path, out, window=32, overlap=0, confidence_path=conf,
                          progress=False)
    assert res['scale_factor'] == 4 and '32x32 test image' in res['scale_factor_from']
    with rasterio.open(path) as src, rasterio.open(out) as f, rasterio.open(conf) as c:
        assert (f.crs, f.transform, f.shape) == (src.crs, src.transform, src.shape)
        assert f.count == 1 and f.dtypes[0] == 'uint8' and f.nodata == 255
        cmap = f.colormap(1)
        assert [list(cmap[i][:3]) for i in range(6)] == NC_META['palette']
        assert json.loads(f.tags()['classes']) == list(NC_META['classes'])
        pred, confidence = f.read(1), c.read(1)
    nodata = (img == 0).any(-1)
    assert nodata.sum() > 30000  # the scene's black border
    assert np.array_equal(pred == 255, nodata) and pred[~nodata].max() < 6
    assert np.all(confidence[nodata] == 0) and confidence[~nodata].min() >= 1 / 6 - 1e-6

    names = [s.strip() for s in open(osp.join(nc_data, 'splits/test.txt')) if s.strip()]
    H, W = pred.shape
    checked = 0
    for name in names:
        y, x = int(name[4:7]), int(name[9:12])
        if y + 32 > H - 32 or x + 32 > W - 32:
            continue  # the flush-with-the-edge windows overlap this tile
        r = inference_model(model, osp.join(nc_data, 'img_dir/ms', name + '.tif'))
        logits = r.seg_logits.data
        ref = logits.argmax(0).numpy()
        valid = ~nodata[y:y + 32, x:x + 32]
        top2 = torch.topk(logits, 2, dim=0).values
        # the test pipeline resizes the uint8 tile (rounding to integers),
        # scene inference resizes float32 windows: the maps differ only
        # where the top two logits nearly tie
        sure = valid & ((top2[0] - top2[1]).numpy() > 0.02)
        assert np.array_equal(pred[y:y + 32, x:x + 32][sure], ref[sure]), name
        np.testing.assert_allclose(confidence[y:y + 32, x:x + 32][valid],
                                   torch.softmax(logits, 0).amax(0).numpy()[valid], atol=5e-3)
        checked += 1
        if checked == 4:
            break
    assert checked == 4


def test_cli(tiny, tmp_path, capsys):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'inference_scene_cli', osp.join(ROOT, 'tools', 'inference_scene.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    arr = _synthetic(90, 70)
    arr[:, :5] = 0
    path = _write(tmp_path / 'in.tif', arr, nodata=0)
    out = str(tmp_path / 'out.tif')
    cli.main([tiny['semi'], tiny['semi_ckpt'], path, out, '--model', 'student',
              '--scale-factor', '1', '--window', '48', '--overlap', '12', '--confidence'])
    text = capsys.readouterr().out
    assert 'model: student' in text and '350 px set to 255' in text
    assert 'developed 100.0%' in text  # the student predicts class 0 everywhere
    assert osp.isfile(str(tmp_path / 'out_confidence.tif'))
    with pytest.raises(SystemExit, match=r"inference_scene: .*missing\.tif' does not exist"):
        cli.main([tiny['sup'], tiny['sup_ckpt'], str(tmp_path / 'missing.tif'), out])


def test_quickstart_scene_maps(tiny, nc_data, tmp_path):
    """The quick start's last step on a work dir holding one supervised and
    one FixMatch run (random checkpoints where train.py puts them)."""
    import shutil
    wd = tmp_path / 'qs'
    records = []
    for method, cfg, ckpt, name in (
            ('supervised', tiny['sup'], tiny['sup_ckpt'], 'best_mIoU_iter_2.pth'),
            ('fixmatch', tiny['semi'], tiny['semi_ckpt'], 'best_teacher_mIoU_iter_2.pth')):
        for seed in (0, 1, 2):
            (wd / method / f'seed{seed}').mkdir(parents=True)
            shutil.copy(ckpt, wd / method / f'seed{seed}' / name)
        records.append(dict(method=method, config=cfg, seeds=[0, 1, 2],
                            miou_per_seed=[0.2, 0.1, 0.15],
                            checkpoints=[f'elsewhere/{method}/seed{s}/{name}' for s in range(3)]))
    records.append(dict(method='semiearth', status='not run', reason='no VLM weights'))
    wd.mkdir(exist_ok=True)
    (wd / 'results.json').write_text(json.dumps(records))
    out = tmp_path / 'maps'
    out.mkdir()
    # 64-px windows without overlap: 60% of the default's pixels through the model
    png = quickstart.save_scene_maps(str(wd), str(out), data_root=nc_data, window=64,
                                     overlap=0)
    summary = json.load(open(out / 'scene_maps.json'))
    assert set(summary) == {'supervised', 'fixmatch'}
    # the median-seed checkpoint (seed 2: 0.15), found in this work dir
    assert summary['supervised']['seed'] == 2
    assert summary['supervised']['checkpoint'] == str(wd / 'supervised/seed2/best_mIoU_iter_2.pth')
    assert summary['fixmatch']['model'] == 'teacher'
    with rasterio.open(out / 'scene_fixmatch.tif') as f, \
            rasterio.open(out / 'scene_input_ms6.tif') as src:
        assert (f.shape, f.crs, f.transform) == (src.shape, src.crs, src.transform)
        assert set(np.unique(f.read(1)).tolist()) == {5, 255}  # the teacher's class, nodata
    import matplotlib.image as mpimg
    im = mpimg.imread(png)
    assert im.shape[1] > 3 * im.shape[0]  # RGB, ground truth, two maps side by side
