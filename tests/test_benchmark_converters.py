"""The benchmark converters (Potsdam, Vaihingen, LoveDA, DeepGlobe) and
import_split on tiny raw datasets made here in each release's format (file
types, colour codes, names, folders and zips): crop counts, zero padding,
class indices, splits and their nesting, re-runs, errors, and that each
dataset class reads the converted data."""
import json
import os
import os.path as osp
import subprocess
import sys
import zipfile

import cv2
import numpy as np
import pytest
from mmseg.registry import DATASETS

import deepglobe
import import_split
import loveda
import potsdam
import vaihingen
from semiearth.datasets.converters import (crop_grid, decode_index_label, decode_rgb_label,
                                           isprs_colours, nested_labeled, parse_split_list,
                                           random_split, ratio_tag)
from semiearth.vlm.class_names import RS_CLASS_NAMES

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# ISPRS colours in the order the stripes below use them, and the index each
# must become (Potsdam / DWL: clutter ignored; Vaihingen: clutter = 5)
ISPRS = [(255, 255, 255), (0, 0, 255), (0, 255, 255), (0, 255, 0), (255, 255, 0),
         (255, 0, 0), (0, 0, 0)]
POTSDAM_INDEX = [0, 1, 2, 3, 4, 255, 255]
VAIHINGEN_INDEX = [0, 1, 2, 3, 4, 5, 255]
DEEPGLOBE = [(0, 255, 255), (255, 255, 0), (255, 0, 255), (0, 255, 0), (0, 0, 255),
             (255, 255, 255), (0, 0, 0)]
DEEPGLOBE_INDEX = [0, 1, 2, 3, 4, 5, 255]


# ---------------------------------------------------------------- helpers

def _stripes(h, w, colours, noise=0, seed=0):
    """An RGB label whose vertical stripes take ``colours`` in turn; with
    ``noise``, each channel moves up to ``noise`` levels towards the middle
    (as in the DeepGlobe masks)."""
    rgb = np.zeros((h, w, 3), np.uint8)
    for i, c in enumerate(colours):
        rgb[:, i * w // len(colours):(i + 1) * w // len(colours)] = c
    if noise:
        jitter = np.random.default_rng(seed).integers(0, noise, rgb.shape)
        rgb = np.where(rgb > 127, rgb.astype(int) - jitter, rgb + jitter).astype(np.uint8)
    return rgb


def _stripe_values(row, n):
    """The value in the middle of each of ``n`` stripes of a label row."""
    w = len(row)
    return [int(row[(2 * i + 1) * w // (2 * n)]) for i in range(n)]


def _write_rgb(path, rgb):
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))


def _image(h, w, seed=0):
    """A random image, 1..254 so padding (0) stands out."""
    return np.random.default_rng(seed).integers(1, 255, (h, w, 3), dtype=np.uint8)


def _read(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def _splits(out):
    return {f[:-4]: open(osp.join(out, 'splits', f)).read().split()
            for f in os.listdir(osp.join(out, 'splits')) if f.endswith('.txt')}


def _mosaic(out, tile, rows, cols, sub='ann_dir'):
    return np.concatenate([np.concatenate([_read(osp.join(out, sub, f'{tile}_{r}_{c}.png'))
                                           for c in range(cols)], 1) for r in range(rows)], 0)


def _zip_folder(folder, zip_path, prefix=''):
    with zipfile.ZipFile(zip_path, 'w', zipfile.ZIP_DEFLATED) as z:
        for root, _, files in os.walk(folder):
            for f in files:
                path = osp.join(root, f)
                z.write(path, prefix + osp.relpath(path, folder).replace(os.sep, '/'))


def _check_semi_splits(s, ratios, crops):
    """train/val/test disjoint and covering ``crops``; labeled sets nested in
    ``ratios`` order; labeled and unlabeled partition train."""
    train, val, test = set(s['train']), set(s['val']), set(s['test'])
    assert not train & val and not train & test and not val & test
    assert train | val | test == set(crops)
    previous = set()
    for r in ratios:
        lab, unl = set(s[f'train_labeled_{r}']), set(s[f'train_unlabeled_{r}'])
        assert lab and previous <= lab <= train
        assert not lab & unl and lab | unl == train
        previous = lab


def _build(type_, out, split='train'):
    return DATASETS.build(dict(
        type=type_, data_root=str(out), ann_file=f'splits/{split}.txt',
        data_prefix=dict(img_path='img_dir', seg_map_path='ann_dir'),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                  dict(type='CheckSegLabels')]))


def _check_dataset(type_, out, vlm_list, n_train):
    ds = _build(type_, out)
    classes = ds.metainfo['classes']
    assert list(classes) == list(RS_CLASS_NAMES[vlm_list])
    assert len(ds.metainfo['palette']) == len(classes)
    assert len(ds) == n_train
    sample = ds[0]
    assert sample['num_classes'] == len(classes)
    assert set(np.unique(sample['gt_seg_map'])) <= set(range(len(classes))) | {255}
    # the defaults the configs rely on: png crops under img_dir / ann_dir
    plain = DATASETS.build(dict(type=type_, data_root=str(out), ann_file='splits/val.txt'))
    assert plain.get_data_info(0)['img_path'].startswith(osp.join(str(out), 'img_dir'))
    assert plain.get_data_info(0)['seg_map_path'].endswith('.png')


def _potsdam_raw(root, tiles=('2_10', '3_11', '7_13'), size=(300, 300), zipped=True,
                 label_suffix='_label'):
    """Potsdam as released: RGB tif + RGB-coded label tif per tile, in
    2_Ortho_RGB.zip (under a 2_Ortho_RGB/ folder) and 5_Labels_all.zip."""
    rgb_dir, lab_dir = root / 'extracted' / '2_Ortho_RGB', root / 'extracted' / 'labels'
    for k, t in enumerate(tiles):
        _write_rgb(rgb_dir / f'top_potsdam_{t}_RGB.tif', _image(*size, seed=k))
        _write_rgb(lab_dir / f'top_potsdam_{t}{label_suffix}.tif', _stripes(*size, ISPRS))
    if not zipped:
        return root / 'extracted'
    dl = root / 'download'
    dl.mkdir()
    _zip_folder(rgb_dir, dl / '2_Ortho_RGB.zip', prefix='2_Ortho_RGB/')
    _zip_folder(lab_dir, dl / '5_Labels_all.zip')
    return dl


def _run_potsdam(src, out, *extra):
    ratios = [] if '--ratios' in extra else ['--ratios', '10pct', '50pct']
    return potsdam.main([str(src), '--out', str(out), '--crop', '128', '--allow-subset',
                         *ratios, *extra])


# ---------------------------------------------------------------- shared logic

def test_split_sizes_follow_the_floor_rule_at_release_sizes():
    for n, sizes in ((5472, (3283, 1094, 1095)),   # Potsdam
                     (16764, (10058, 3352, 3354)),  # LoveDA
                     (20075, (12045, 4015, 4015))):  # DeepGlobe
        names = [f'c{i}' for i in range(n)]
        s = random_split(names, 42)
        assert (len(s['train']), len(s['val']), len(s['test'])) == sizes
        assert set(s['train']) | set(s['val']) | set(s['test']) == set(names)
        assert len(set(s['train']) | set(s['val']) | set(s['test'])) == n
        s.update(nested_labeled(s['train'], ['1pct', '5pct', '10pct'], 42))
        if n == 5472:
            assert [len(s[f'train_labeled_{r}']) for r in ('1pct', '5pct', '10pct')] == [
                32, 164, 328]
        _check_semi_splits(s, ['1pct', '5pct', '10pct'], names)
    # fractions (Vaihingen) and the input order does not matter, the seed does
    names = [f'c{i}' for i in range(100)]
    lab = nested_labeled(names, ['1/8', '1/4'], 42)
    assert (len(lab['train_labeled_1of8']), len(lab['train_labeled_1of4'])) == (12, 25)
    assert set(lab['train_labeled_1of8']) <= set(lab['train_labeled_1of4'])
    assert random_split(names[::-1], 42) == random_split(names, 42)
    assert random_split(names, 42) != random_split(names, 7)
    assert nested_labeled(names, ['1/8'], 42) == nested_labeled(names[::-1], ['1/8'], 42)
    assert [ratio_tag(r) for r in ('1pct', '1%', '1/8', '0.25', '0.5pct')] == [
        '1pct', '1pct', '1of8', '1of4', '0.5pct']
    for bad in ('0', '1', '150pct', 'half'):
        with pytest.raises(ValueError, match='labeled ratio'):
            ratio_tag(bad)
    with pytest.raises(ValueError, match='is no crop at all'):
        nested_labeled(names[:10], ['1pct'], 42)


def test_crop_grid_pads_image_with_zero_and_label_with_ignore():
    img, label = _image(300, 200), np.zeros((300, 200), np.uint8)
    crops = list(crop_grid(img, label, 128))
    assert [(r, c) for r, c, _, _ in crops] == [(r, c) for r in range(3) for c in range(2)]
    _, _, im, lab = crops[-1]  # rows 256..383, cols 128..255: 44 x 72 real pixels
    assert im.shape == (128, 128, 3) and lab.shape == (128, 128)
    assert (im[:44, :72] == img[256:, 128:]).all() and (lab[:44, :72] == 0).all()
    assert (im[44:] == 0).all() and (im[:, 72:] == 0).all()
    assert (lab[44:] == 255).all() and (lab[:, 72:] == 255).all()
    assert len(list(crop_grid(_image(256, 256), np.zeros((256, 256), np.uint8), 128))) == 4


def test_label_decoding_binarises_and_names_bad_files():
    colours = isprs_colours(with_clutter=False)
    rgb = _stripes(20, 70, ISPRS, noise=100)  # channels up to 99 levels off
    assert _stripe_values(decode_rgb_label(rgb, colours, 'x.tif')[0], 7) == POTSDAM_INDEX
    assert _stripe_values(decode_rgb_label(rgb, isprs_colours(True), 'x.tif')[0],
                          7) == VAIHINGEN_INDEX
    bad = _stripes(10, 40, [(255, 0, 255), (0, 0, 255)])
    with pytest.raises(ValueError, match=r"label 'a/b.tif' has colours \{\(255, 0, 255\): 200\}"):
        decode_rgb_label(bad, colours, 'a/b.tif')
    with pytest.raises(ValueError, match=r"label 'g.png' has shape \(10, 10\)"):
        decode_rgb_label(np.zeros((10, 10), np.uint8), colours, 'g.png')
    with pytest.raises(ValueError, match=r'\(10, 10, 4\)'):
        decode_rgb_label(np.zeros((10, 10, 4), np.uint8), colours, 'rgba.png')
    mapping = [255, 0, 1, 2, 3, 4, 5, 6]
    raw = np.arange(8, dtype=np.uint8).reshape(2, 4)
    assert decode_index_label(raw, mapping, 'm.png').ravel().tolist() == mapping
    with pytest.raises(ValueError, match=r"label 'm.png' has values \[8, 9\]"):
        decode_index_label(np.array([[8, 9, 1]], np.uint8), mapping, 'm.png')


# ---------------------------------------------------------------- Potsdam

def test_potsdam_from_zips(tmp_path, capsys):
    out = tmp_path / 'potsdam'
    dl = _potsdam_raw(tmp_path)
    meta = _run_potsdam(dl, out, '--ratios', '10pct', '20pct', '50pct')
    # 300 px -> padded to 384 -> 3 x 3 crops of 128, three tiles
    crops = sorted(f[:-4] for f in os.listdir(out / 'img_dir'))
    assert meta['crops'] == 27 and len(crops) == 27
    assert sorted(os.listdir(out / 'ann_dir')) == [c + '.png' for c in crops]
    assert 'potsdam_2_10_0_0' in crops and 'potsdam_7_13_2_2' in crops
    assert not osp.exists(out / 'raw')  # archives are read in place
    # image content, padding, class index of every colour
    img = _mosaic(out, 'potsdam_3_11', 3, 3, 'img_dir')
    assert (img[:300, :300] == _image(300, 300, seed=1)[..., ::-1]).all()
    assert (img[300:] == 0).all() and (img[:, 300:] == 0).all()
    lab = _mosaic(out, 'potsdam_3_11', 3, 3)
    assert lab.dtype == np.uint8 and lab.shape == (384, 384)
    assert (lab[300:] == 255).all() and (lab[:, 300:] == 255).all()
    assert _stripe_values(lab[5, :300], 7) == POTSDAM_INDEX
    # splits: floor rule, nesting, names of the files
    s = _splits(out)
    assert (len(s['train']), len(s['val']), len(s['test'])) == (16, 5, 6)
    assert [len(s[f'train_labeled_{r}']) for r in ('10pct', '20pct', '50pct')] == [1, 3, 8]
    _check_semi_splits(s, ['10pct', '20pct', '50pct'], crops)
    assert set(s) == {'train', 'val', 'test'} | {
        f'train_{k}_{r}' for k in ('labeled', 'unlabeled') for r in ('10pct', '20pct', '50pct')}
    # meta.json: arguments, counts, class pixels per split
    with open(out / 'meta.json') as f:
        written = json.load(f)
    assert written == json.loads(json.dumps(meta))
    assert written['args']['crop'] == 128 and written['args']['seed'] == 42
    assert written['split_sizes']['train'] == 16 and written['tiles'] == 3
    assert written['classes'] == list(RS_CLASS_NAMES['potsdam'])
    assert written['label_code']['255,0,0'] == 255
    total = sum(sum(written['class_pixels'][k].values()) for k in ('train', 'val', 'test'))
    assert total == 27 * 128 * 128
    counts = {c: sum(written['class_pixels'][k][c] for k in ('train', 'val', 'test'))
              for c in ('impervious_surface', 'car', 'ignore')}
    assert counts['car'] == 3 * 300 * (300 * 5 // 7 - 300 * 4 // 7)
    _check_dataset('PotsdamDWLDataset', out, 'potsdam', 16)


def test_potsdam_rerun_skips_force_redoes_and_settings_changes_reconvert(tmp_path, capsys):
    raw, out = _potsdam_raw(tmp_path, zipped=False), tmp_path / 'potsdam'
    first = _run_potsdam(raw, out)
    crop = out / 'img_dir' / 'potsdam_2_10_0_0.png'
    os.utime(crop, (1e9, 1e9))
    capsys.readouterr()
    assert _run_potsdam(raw, out) == first
    assert 'up to date' in capsys.readouterr().out
    assert osp.getmtime(crop) == 1e9
    _run_potsdam(raw, out, '--force')
    assert 'up to date' not in capsys.readouterr().out
    assert osp.getmtime(crop) != 1e9
    # an interrupted run (a tile without its marker) redoes that tile only
    os.utime(crop, (1e9, 1e9))
    other = out / 'img_dir' / 'potsdam_3_11_0_0.png'
    os.utime(other, (1e9, 1e9))
    os.remove(out / '.progress' / 'potsdam_3_11.json')
    os.remove(out / 'meta.json')
    _run_potsdam(raw, out)
    assert osp.getmtime(crop) == 1e9 and osp.getmtime(other) != 1e9
    # other arguments: the seed only re-splits; the crop size re-cuts and
    # removes the old crops and split files
    _run_potsdam(raw, out, '--seed', '7')
    assert osp.getmtime(crop) == 1e9
    meta = _run_potsdam(raw, out, '--crop', '150', '--ratios', '20pct')
    assert meta['crops'] == 12 and len(os.listdir(out / 'img_dir')) == 12
    assert osp.getmtime(crop) != 1e9
    assert set(_splits(out)) == {'train', 'val', 'test', 'train_labeled_20pct',
                                 'train_unlabeled_20pct'}
    assert _read(out / 'ann_dir' / 'potsdam_2_10_1_1.png').shape == (150, 150)


def test_split_is_seeded(tmp_path):
    raw = _potsdam_raw(tmp_path, zipped=False)
    _run_potsdam(raw, tmp_path / 'a')
    _run_potsdam(raw, tmp_path / 'b')
    _run_potsdam(raw, tmp_path / 'c', '--seed', '7')
    a, b, c = (_splits(tmp_path / k) for k in 'abc')
    assert a == b
    assert a['train'] != c['train'] and set(a['train']) | set(a['val']) | set(a['test']) == set(
        c['train']) | set(c['val']) | set(c['test'])


def test_potsdam_all_38_tiles_and_bad_downloads(tmp_path, capsys):
    raw = _potsdam_raw(tmp_path, tiles=potsdam.TILES, size=(16, 16), zipped=False)
    meta = potsdam.main([str(raw), '--out', str(tmp_path / 'full'), '--crop', '8',
                         '--ratios', '5pct'])
    assert meta['crops'] == 38 * 4 and meta['split_sizes']['train'] == 91  # floor(0.6 * 152)
    rgb, lab = raw / '2_Ortho_RGB', raw / 'labels'
    # a missing tile, an image without its label, a label without its image
    os.remove(rgb / 'top_potsdam_7_13_RGB.tif')
    os.remove(lab / 'top_potsdam_7_13_label.tif')
    with pytest.raises(FileNotFoundError, match=r'1 of the 38 images are missing: '
                       r'top_potsdam_7_13_RGB.tif.*1 of the 38 labels.*top_potsdam_7_13_'
                       r'label.tif.*5_Labels_all.zip.*--allow-subset'):
        potsdam.main([str(raw), '--out', str(tmp_path / 'o1'), '--crop', '8'])
    os.remove(lab / 'top_potsdam_2_10_label.tif')
    with pytest.raises(FileNotFoundError, match=r"2 of the 38 labels are missing: "
                       r"top_potsdam_2_10_label.tif, top_potsdam_7_13_label.tif \(its image "
                       r"is '.*top_potsdam_2_10_RGB.tif'\)"):
        potsdam.main([str(raw), '--out', str(tmp_path / 'o2'), '--crop', '8'])
    # --allow-subset converts the complete pairs, with a warning
    capsys.readouterr()
    meta = potsdam.main([str(raw), '--out', str(tmp_path / 'o3'), '--crop', '8',
                         '--allow-subset', '--ratios', '5pct'])
    assert meta['tiles'] == 36 and 'warning: Potsdam' in capsys.readouterr().out
    _write_rgb(lab / 'top_potsdam_2_10_label.tif', _stripes(16, 16, ISPRS))
    os.remove(rgb / 'top_potsdam_3_11_RGB.tif')
    with pytest.raises(FileNotFoundError, match=r'2 of the 38 images are missing: '
                       r"top_potsdam_3_11_RGB.tif, top_potsdam_7_13_RGB.tif \(its label is "
                       r"'.*top_potsdam_3_11_label.tif'\)"):
        potsdam.main([str(raw), '--out', str(tmp_path / 'o4'), '--crop', '8'])


@pytest.mark.parametrize('label, message', [
    (_stripes(300, 300, [(255, 0, 255), (0, 0, 255)]),
     r"top_potsdam_3_11_label.tif' has colours \{\(255, 0, 255\): 45000\}"),
    (np.zeros((300, 300), np.uint8), r"top_potsdam_3_11_label.tif' has shape \(300, 300\)"),
    (_stripes(200, 300, [(0, 0, 255)]),
     r"top_potsdam_3_11_label.tif' is 300 x 200 \(W x H\) but its image .* is 300 x 300"),
])
def test_potsdam_bad_label_is_named(tmp_path, label, message):
    raw = _potsdam_raw(tmp_path, zipped=False)
    path = raw / 'labels' / 'top_potsdam_3_11_label.tif'
    if label.ndim == 2:
        cv2.imwrite(str(path), label)
    else:
        _write_rgb(path, label)
    with pytest.raises(ValueError, match=message):
        _run_potsdam(raw, tmp_path / 'out')
    assert not osp.exists(tmp_path / 'out' / 'meta.json')


def test_potsdam_eroded_labels(tmp_path):
    raw = _potsdam_raw(tmp_path, label_suffix='_label_noBoundary')
    with pytest.raises(FileNotFoundError, match='no image/label pair'):
        _run_potsdam(raw, tmp_path / 'full')
    meta = _run_potsdam(raw, tmp_path / 'eroded', '--no-boundary')
    assert meta['crops'] == 27 and meta['args']['no_boundary'] is True


def test_converter_errors_end_the_command_with_the_message(tmp_path):
    """Run as a command, an error is one message naming the fix, no traceback."""
    raw = _potsdam_raw(tmp_path, zipped=False)
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/dataset_converters/potsdam.py'), str(raw),
         '--out', str(tmp_path / 'out'), '--crop', '128'],
        capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(
        'potsdam converter: error: Potsdam: 35 of the 38 images are missing')
    assert 'Traceback' not in proc.stderr


# ---------------------------------------------------------------- Vaihingen

def test_vaihingen_official_areas_val_is_test_and_fraction_splits(tmp_path):
    img_root, gt_root = tmp_path / 'img', tmp_path / 'gt'
    areas = {1: (200, 260), 3: (130, 256), 2: (200, 260)}  # 1, 3 train; 2 test
    for area, (h, w) in areas.items():
        name = f'top_mosaic_09cm_area{area}.tif'
        _write_rgb(img_root / 'top' / name, _image(h, w, area))
        _write_rgb(img_root / 'dsm' / f'dsm_09cm_matching_area{area}.tif', _image(h, w))
        _write_rgb(gt_root / name, _stripes(h, w, ISPRS))
        if area != 2:  # the image archive has the training areas' labels too
            _write_rgb(img_root / 'gts_for_participants' / name, _stripes(h, w, ISPRS))
    dl = tmp_path / 'download'
    dl.mkdir()
    _zip_folder(img_root, dl / 'ISPRS_semantic_labeling_Vaihingen.zip')
    _zip_folder(gt_root, dl / 'ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE.zip')
    out = tmp_path / 'vaihingen'
    meta = vaihingen.main([str(dl), '--out', str(out), '--crop', '128', '--allow-subset'])
    assert meta['crops'] == 6 + 4 + 6  # 2 x 3, 2 x 2, 2 x 3 crops
    s = _splits(out)
    assert len(s['train']) == 10 and {n.split('_')[1] for n in s['train']} == {'1', '3'}
    assert s['val'] == s['test'] and {n.split('_')[1] for n in s['test']} == {'2'}
    assert (len(s['train_labeled_1of8']), len(s['train_labeled_1of4'])) == (1, 2)
    for r in ('1of8', '1of4'):
        lab = set(s[f'train_labeled_{r}'])
        assert lab <= set(s['train']) and lab | set(s[f'train_unlabeled_{r}']) == set(s['train'])
    assert set(s['train_labeled_1of8']) <= set(s['train_labeled_1of4'])
    lab = _mosaic(out, 'vaihingen_1', 2, 3)
    assert _stripe_values(lab[0, :260], 7) == VAIHINGEN_INDEX
    assert (lab[200:] == 255).all() and (lab[:, 260:] == 255).all()
    # IRRG kept channel for channel
    img = _mosaic(out, 'vaihingen_3', 2, 2, 'img_dir')
    assert (img[:130] == _image(130, 256, 3)[..., ::-1]).all() and (img[130:] == 0).all()
    _check_dataset('VaihingenDataset', out, 'vaihingen', 10)
    with pytest.raises(FileNotFoundError, match=r'30 of the 33 images are missing.*'
                       r'30 of the 33 labels.*ground_truth_COMPLETE.zip'):
        vaihingen.main([str(dl), '--out', str(tmp_path / 'v2')])


# ---------------------------------------------------------------- LoveDA

def _loveda_raw(root):
    """Train (Urban ids 7, 8; Rural id 7) zipped as Train.zip, Val (Urban 9,
    Rural 10) extracted, Test (images only) extracted: 5 tiles of 256."""
    rng = np.random.default_rng(0)
    masks = {}
    for split, domain, tile in (('Train', 'Urban', 7), ('Train', 'Urban', 8),
                                ('Train', 'Rural', 7), ('Val', 'Urban', 9),
                                ('Val', 'Rural', 10), ('Test', 'Urban', 11)):
        base = root / 'tmp' / split if split == 'Train' else root / 'dl' / split
        _write_rgb(base / domain / 'images_png' / f'{tile}.png', _image(256, 256, tile))
        if split != 'Test':
            mask = rng.integers(0, 8, (256, 256), dtype=np.uint8)
            masks[f'{domain.lower()}_{tile}'] = mask
            os.makedirs(base / domain / 'masks_png', exist_ok=True)
            cv2.imwrite(str(base / domain / 'masks_png' / f'{tile}.png'), mask)
    _zip_folder(root / 'tmp', root / 'dl' / 'Train.zip')
    return root / 'dl', masks


def test_loveda_domains_no_data_and_four_crops(tmp_path, monkeypatch):
    monkeypatch.setattr(loveda, 'RELEASE', {'train': 3, 'val': 2})
    raw, masks = _loveda_raw(tmp_path)
    out = tmp_path / 'loveda'
    meta = loveda.main([str(raw), '--out', str(out), '--crop', '128',
                        '--ratios', '10pct', '50pct'])
    assert meta['crops'] == 20  # five 256 tiles cut in 4; Test is not read
    names = {f[:-4] for f in os.listdir(out / 'img_dir')}
    assert {f'{t}_{r}_{c}' for t in masks for r in (0, 1) for c in (0, 1)} == names
    for tile, mask in masks.items():  # 0 -> 255, 1..7 -> 0..6
        lab = _mosaic(out, tile, 2, 2)
        assert (lab[mask == 0] == 255).all()
        assert (lab[mask > 0] == mask[mask > 0] - 1).all()
    s = _splits(out)
    assert (len(s['train']), len(s['val']), len(s['test'])) == (12, 4, 4)
    _check_semi_splits(s, ['10pct', '50pct'], names)
    assert meta['label_code'] == {'0': 255, **{str(v): v - 1 for v in range(1, 8)}}
    _check_dataset('LoveDADWLDataset', out, 'loveda', 12)
    # a partial download, a mask with a value outside 0..7, a missing mask
    monkeypatch.setattr(loveda, 'RELEASE', {'train': 2522, 'val': 1669})
    with pytest.raises(FileNotFoundError, match=r'found 3 LoveDA Train images.*2522'):
        loveda.main([str(raw), '--out', str(tmp_path / 'l1')])
    monkeypatch.setattr(loveda, 'RELEASE', {'train': 3, 'val': 2})
    bad = masks['rural_10'].copy()
    bad[0, 0] = 9
    cv2.imwrite(str(raw / 'Val/Rural/masks_png/10.png'), bad)
    with pytest.raises(ValueError, match=r"Val/Rural/masks_png/10.png' has values \[9\]"):
        loveda.main([str(raw), '--out', str(tmp_path / 'l2'), '--crop', '128'])
    os.remove(raw / 'Val/Rural/masks_png/10.png')
    with pytest.raises(FileNotFoundError, match=r'1 of the 5 labels are missing: '
                       r'Rural/masks_png/10.png'):
        loveda.main([str(raw), '--out', str(tmp_path / 'l3'), '--crop', '128'])


# ---------------------------------------------------------------- DeepGlobe

def test_deepglobe_noisy_masks_unknown_and_padding(tmp_path, monkeypatch):
    train = tmp_path / 'archive' / 'train'
    for i in (10, 11):
        train.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(train / f'{i}_sat.jpg'), _image(300, 280, i))
        _write_rgb(train / f'{i}_mask.png', _stripes(300, 280, DEEPGLOBE, noise=60, seed=i))
    valid = tmp_path / 'archive' / 'valid'  # images without masks: not read
    valid.mkdir()
    cv2.imwrite(str(valid / '12_sat.jpg'), _image(300, 280))
    out = tmp_path / 'deepglobe'
    meta = deepglobe.main([str(tmp_path / 'archive'), '--out', str(out), '--crop', '128',
                           '--allow-subset', '--ratios', '10pct', '50pct'])
    assert meta['crops'] == 18  # 300 x 280 -> 384 x 384 -> 3 x 3, two images
    lab = _mosaic(out, 'deepglobe_10', 3, 3)
    assert _stripe_values(lab[5, :280], 7) == DEEPGLOBE_INDEX
    assert (lab[300:] == 255).all() and (lab[:, 280:] == 255).all()
    img = _mosaic(out, 'deepglobe_11', 3, 3, 'img_dir')
    assert (img[300:] == 0).all() and (img[:, 280:] == 0).all() and img[:300, :280].mean() > 50
    s = _splits(out)
    assert (len(s['train']), len(s['val']), len(s['test'])) == (10, 3, 5)
    _check_semi_splits(s, ['10pct', '50pct'], [f[:-4] for f in os.listdir(out / 'img_dir')])
    _check_dataset('DeepGlobeLandCoverDataset', out, 'deepglobe', 10)
    with pytest.raises(FileNotFoundError, match=r'found 2 DeepGlobe training masks.*803'):
        deepglobe.main([str(tmp_path / 'archive'), '--out', str(tmp_path / 'd2')])
    monkeypatch.setattr(deepglobe, 'N_IMAGES', 2)  # as if the release were these two
    os.remove(train / '11_sat.jpg')
    with pytest.raises(FileNotFoundError, match=r'1 of the 2 images are missing: 11_sat.jpg'):
        deepglobe.main([str(train), '--out', str(tmp_path / 'd3'), '--crop', '128'])
    cv2.imwrite(str(train / '11_sat.jpg'), _image(300, 280, 11))
    _write_rgb(train / '11_mask.png', _stripes(300, 280, [(255, 0, 0), (0, 255, 0)]))
    with pytest.raises(ValueError, match=r"11_mask.png' has colours \{\(255, 0, 0\): 42000\}"):
        deepglobe.main([str(train), '--out', str(tmp_path / 'd4'), '--crop', '128'])


# ---------------------------------------------------------------- import_split

def test_import_published_split(tmp_path):
    out = tmp_path / 'potsdam'
    _run_potsdam(_potsdam_raw(tmp_path), out)
    s = _splits(out)
    train = s['train']
    published = tmp_path / 'labeled.txt'
    # UniMatch-style lines, a plain stem, a path with suffix, a repeat, blanks
    published.write_text(f'images/{train[0]}.png labels/{train[0]}.png\n{train[1]}\n\n'
                         f'img_dir/{train[2]}.png\n{train[1]}\n# comment\n')
    assert parse_split_list(str(published)) == train[:3]
    import_split.main([str(out), str(published), '--name', 'train_labeled_paper',
                       '--unlabeled-from', 'train'])
    s = _splits(out)
    assert s['train_labeled_paper'] == train[:3]
    assert s['train_unlabeled_paper'] == train[3:]
    assert _build('PotsdamDWLDataset', out, 'train_labeled_paper').__len__() == 3
    # without --unlabeled-from: only the list; other names need --unlabeled-name
    import_split.main([str(out), str(published), '--name', 'paper_val'])
    assert _splits(out)['paper_val'] == train[:3]
    with pytest.raises(SystemExit):
        import_split.main([str(out), str(published), '--name', 'paper',
                           '--unlabeled-from', 'train'])
    import_split.main([str(out), str(published), '--name', 'paper',
                       '--unlabeled-from', 'train', '--unlabeled-name', 'paper_rest'])
    assert _splits(out)['paper_rest'] == train[3:]
    # names that are no crop; names outside the split
    before = _splits(out)
    published.write_text('potsdam_9_9_0_0\npotsdam_9_9_0_1.png\n' + train[0] + '\n')
    with pytest.raises(FileNotFoundError, match=r"2 of the 3 names in '.*labeled.txt' are "
                       r"not crops in .*\['potsdam_9_9_0_0', 'potsdam_9_9_0_1'\]"):
        import_split.main([str(out), str(published), '--name', 'train_labeled_x'])
    published.write_text(s['test'][0] + '\n' + train[0] + '\n')
    with pytest.raises(ValueError, match=r"1 of the 2 names in '.*labeled.txt' are not in "
                       r'splits/train.txt'):
        import_split.main([str(out), str(published), '--name', 'train_labeled_y',
                           '--unlabeled-from', 'train'])
    assert _splits(out) == before  # nothing written on an error
