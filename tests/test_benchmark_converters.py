"""The benchmark converters on tiny raw datasets made here in each release's
format (file types, colour codes, names, zips): crop counts, padding, class
indices, splits and their nesting, re-runs, published split lists, errors."""
import json
import os
import os.path as osp
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
from semiearth.vlm.class_names import RS_CLASS_NAMES

ISPRS = {'impervious': (255, 255, 255), 'building': (0, 0, 255), 'low_veg': (0, 255, 255),
         'tree': (0, 255, 0), 'car': (255, 255, 0), 'clutter': (255, 0, 0),
         'boundary': (0, 0, 0)}


def _stripes(h, w, colours, noise=0, seed=0):
    """An RGB label whose vertical stripes take ``colours`` in turn."""
    rgb = np.zeros((h, w, 3), np.uint8)
    for i, c in enumerate(colours):
        rgb[:, i * w // len(colours):(i + 1) * w // len(colours)] = c
    if noise:
        jitter = np.random.default_rng(seed).integers(0, noise, rgb.shape)
        rgb = np.where(rgb > 127, rgb - jitter, rgb + jitter).astype(np.uint8)
    return rgb


def _write_rgb(path, rgb):
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))


def _image(h, w, seed=0):
    return np.random.default_rng(seed).integers(1, 255, (h, w, 3), dtype=np.uint8)


def _read(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def _splits(out):
    return {f[:-4]: open(osp.join(out, 'splits', f)).read().split()
            for f in os.listdir(osp.join(out, 'splits'))}


def _potsdam_raw(root, tiles=('2_10', '3_11'), size=(300, 300), zipped=True):
    """Potsdam tiles as released: RGB tif + RGB-coded label tif, in zips."""
    files = {}
    for k, t in enumerate(tiles):
        img = root / 'rgb' / f'top_potsdam_{t}_RGB.tif'
        lab = root / 'lab' / f'top_potsdam_{t}_label.tif'
        _write_rgb(img, _image(*size, seed=k))
        _write_rgb(lab, _stripes(*size, list(ISPRS.values())))
        files[img] = '2_Ortho_RGB.zip'
        files[lab] = '5_Labels_all.zip'
    if zipped:
        dl = root / 'download'
        dl.mkdir()
        for path, name in files.items():
            with zipfile.ZipFile(dl / name, 'a') as z:
                z.write(path, f'{name[:-4]}/{path.name}')
        return dl
    return root


def _run_potsdam(src, out, *extra):
    return potsdam.main([str(src), '--out', str(out), '--crop', '128', '--allow-subset',
                         '--ratios', '10pct', '20pct', '50pct', *extra])


def test_potsdam_crops_padding_classes_and_nested_splits(tmp_path, capsys):
    out = tmp_path / 'potsdam'
    meta = _run_potsdam(_potsdam_raw(tmp_path), out)
    # 300 px -> padded to 384 -> 3 x 3 crops of 128, two tiles
    assert meta['crops'] == 18 and len(os.listdir(out / 'img_dir')) == 18
    corner_img = _read(out / 'img_dir/potsdam_2_10_2_2.png')
    corner_lab = _read(out / 'ann_dir/potsdam_2_10_2_2.png')
    assert corner_img.shape == (128, 128, 3) and corner_lab.shape == (128, 128)
    assert (corner_img[44:] == 0).all() and (corner_img[:, 44:] == 0).all()
    assert (corner_lab[44:] == 255).all() and (corner_lab[:, 44:] == 255).all()
    # stripes of 300 / 7 px: impervious, building, low veg, tree, car, clutter, black
    full = np.concatenate([np.concatenate([_read(out / f'ann_dir/potsdam_2_10_{r}_{c}.png')
                                           for c in range(3)], 1) for r in range(3)], 0)
    row = full[0, :300]
    expected = [0, 1, 2, 3, 4, 255, 255]
    for i, value in enumerate(expected):
        assert row[i * 300 // 7 + 2] == value
    s = _splits(out)
    assert (len(s['train']), len(s['val']), len(s['test'])) == (10, 3, 5)
    assert set(s['train']) | set(s['val']) | set(s['test']) == {
        f[:-4] for f in os.listdir(out / 'img_dir')}
    assert not set(s['train']) & set(s['val']) and not set(s['val']) & set(s['test'])
    sizes = [len(s[f'train_labeled_{r}']) for r in ('10pct', '20pct', '50pct')]
    assert sizes == [1, 2, 5]
    assert set(s['train_labeled_10pct']) <= set(s['train_labeled_20pct']) <= set(
        s['train_labeled_50pct']) <= set(s['train'])
    for r in ('10pct', '20pct', '50pct'):
        lab, unl = set(s[f'train_labeled_{r}']), set(s[f'train_unlabeled_{r}'])
        assert not lab & unl and lab | unl == set(s['train'])
    assert json.load(open(out / 'meta.json'))['split_sizes']['train'] == 10

    # the dataset class reads it; its classes are the VLM's Potsdam list
    ds = DATASETS.build(dict(type='PotsdamDWLDataset', data_root=str(out),
                             ann_file='splits/train.txt',
                             data_prefix=dict(img_path='img_dir', seg_map_path='ann_dir'),
                             pipeline=[dict(type='LoadImageFromFile'),
                                       dict(type='LoadAnnotations'),
                                       dict(type='CheckSegLabels')]))
    assert len(ds) == 10 and ds.metainfo['classes'] == tuple(RS_CLASS_NAMES['potsdam'])
    assert ds[0]['gt_seg_map'].max() <= 255

    # a re-run with the same arguments does nothing; --force converts again
    mtime = os.path.getmtime(out / 'img_dir/potsdam_2_10_0_0.png')
    capsys.readouterr()
    _run_potsdam(_potsdam_raw(tmp_path / 'again'), out)
    assert 'up to date' not in capsys.readouterr().out  # other src: converted again
    mtime = os.path.getmtime(out / 'img_dir/potsdam_2_10_0_0.png')
    _run_potsdam(tmp_path / 'again' / 'download', out)
    assert 'up to date' in capsys.readouterr().out
    assert os.path.getmtime(out / 'img_dir/potsdam_2_10_0_0.png') == mtime
    _run_potsdam(tmp_path / 'again' / 'download', out, '--force')
    assert 'up to date' not in capsys.readouterr().out


def test_split_is_seeded(tmp_path):
    raw = _potsdam_raw(tmp_path, zipped=False)
    a = _run_potsdam(raw, tmp_path / 'a')
    b = _run_potsdam(raw, tmp_path / 'b')
    c = _run_potsdam(raw, tmp_path / 'c', '--seed', '7')
    assert _splits(tmp_path / 'a') == _splits(tmp_path / 'b')
    assert _splits(tmp_path / 'a')['train'] != _splits(tmp_path / 'c')['train']
    assert a['crops'] == b['crops'] == c['crops']


def test_potsdam_bad_downloads_are_named(tmp_path):
    raw = _potsdam_raw(tmp_path, zipped=False)
    with pytest.raises(FileNotFoundError, match=r'36 of the 38 labelled Potsdam tiles.*'
                       r'--allow-subset'):
        potsdam.main([str(raw), '--out', str(tmp_path / 'o1')])
    os.remove(raw / 'rgb' / 'top_potsdam_3_11_RGB.tif')
    with pytest.raises(FileNotFoundError, match=r"no image for '.*top_potsdam_3_11_label"):
        _run_potsdam(raw, tmp_path / 'o2')
    _write_rgb(raw / 'rgb' / 'top_potsdam_3_11_RGB.tif', _image(300, 300))
    _write_rgb(raw / 'lab' / 'top_potsdam_3_11_label.tif',
               _stripes(300, 300, [(255, 0, 255), (0, 0, 255)]))
    with pytest.raises(ValueError, match=r"top_potsdam_3_11_label.tif' has colours "
                       r'\{\(255, 0, 255\): 45000\}'):
        _run_potsdam(raw, tmp_path / 'o3')
    cv2.imwrite(str(raw / 'lab' / 'top_potsdam_3_11_label.tif'), np.zeros((300, 300), np.uint8))
    with pytest.raises(ValueError, match=r"top_potsdam_3_11_label.tif' has shape \(300, 300\)"):
        _run_potsdam(raw, tmp_path / 'o4')
    _write_rgb(raw / 'lab' / 'top_potsdam_3_11_label.tif', _stripes(200, 300, [(0, 0, 255)]))
    with pytest.raises(ValueError, match=r'is 300 x 200 but its image .* is 300 x 300'):
        _run_potsdam(raw, tmp_path / 'o5')


def test_vaihingen_official_areas_and_fraction_splits(tmp_path):
    img_root, gt_root = tmp_path / 'img', tmp_path / 'gt'
    for area, seed in ((1, 0), (2, 1)):  # area 1 is a train area, 2 a test area
        name = f'top_mosaic_09cm_area{area}.tif'
        _write_rgb(img_root / 'top' / name, _image(200, 260, seed))
        _write_rgb(gt_root / name, _stripes(200, 260, list(ISPRS.values())))
    dl = tmp_path / 'download'
    dl.mkdir()
    for src, zname in ((img_root, 'ISPRS_semantic_labeling_Vaihingen.zip'),
                       (gt_root, 'ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE.zip')):
        with zipfile.ZipFile(dl / zname, 'w') as z:
            for path in src.rglob('*.tif'):
                z.write(path, path.relative_to(src))
    out = tmp_path / 'vaihingen'
    meta = vaihingen.main([str(dl), '--out', str(out), '--crop', '128', '--allow-subset',
                           '--ratios', '1/6', '1/2'])
    assert meta['crops'] == 12  # 2 x 3 crops per area
    s = _splits(out)
    assert all(n.startswith('vaihingen_1_') for n in s['train']) and len(s['train']) == 6
    assert s['val'] == s['test'] and all(n.startswith('vaihingen_2_') for n in s['test'])
    assert (len(s['train_labeled_1of6']), len(s['train_labeled_1of2'])) == (1, 3)
    assert set(s['train_labeled_1of6']) <= set(s['train_labeled_1of2'])
    full = np.concatenate([_read(out / f'ann_dir/vaihingen_1_0_{c}.png') for c in range(3)], 1)
    assert [full[0, i * 260 // 7 + 2] for i in range(7)] == [0, 1, 2, 3, 4, 5, 255]
    with pytest.raises(FileNotFoundError, match='labelled Vaihingen areas are missing'):
        vaihingen.main([str(dl), '--out', str(tmp_path / 'v2')])


def test_loveda_domains_no_data_and_four_crops(tmp_path):
    raw = tmp_path / 'raw'
    rng = np.random.default_rng(0)
    for split, domain in (('Train', 'Urban'), ('Train', 'Rural'), ('Val', 'Urban')):
        mask = rng.integers(0, 8, (256, 256), dtype=np.uint8)
        os.makedirs(raw / split / domain / 'masks_png', exist_ok=True)
        cv2.imwrite(str(raw / split / domain / 'masks_png' / '7.png' if split == 'Train'
                        else raw / split / domain / 'masks_png' / '9.png'), mask)
        _write_rgb(raw / split / domain / 'images_png' / ('7.png' if split == 'Train'
                                                          else '9.png'), _image(256, 256))
    out = tmp_path / 'loveda'
    meta = loveda.main([str(raw), '--out', str(out), '--crop', '128',
                        '--ratios', '20pct', '50pct'])
    assert meta['crops'] == 12  # three 256 tiles cut in 4
    names = {f[:-4] for f in os.listdir(out / 'img_dir')}
    assert {'urban_7_0_0', 'rural_7_0_0', 'urban_9_1_1'} <= names
    raw_mask = _read(raw / 'Train/Rural/masks_png/7.png')[:128, :128]
    lab = _read(out / 'ann_dir/rural_7_0_0.png')
    assert (lab[raw_mask == 0] == 255).all()
    assert (lab[raw_mask > 0] == raw_mask[raw_mask > 0] - 1).all()
    bad = raw_mask.copy()
    bad[0, 0] = 9
    cv2.imwrite(str(raw / 'Train/Rural/masks_png/7.png'), np.pad(bad, ((0, 128), (0, 128))))
    with pytest.raises(ValueError, match=r"Rural/masks_png/7.png' has values \[9\]"):
        loveda.main([str(raw), '--out', str(tmp_path / 'l2'), '--crop', '128',
                     '--ratios', '20pct'])


def test_deepglobe_noisy_masks_and_unknown(tmp_path):
    raw = tmp_path / 'train'
    colours = [(0, 255, 255), (255, 255, 0), (255, 0, 255), (0, 255, 0), (0, 0, 255),
               (255, 255, 255), (0, 0, 0)]
    for i in (10, 11):
        raw.mkdir(exist_ok=True)
        cv2.imwrite(str(raw / f'{i}_sat.jpg'), _image(300, 280, i))
        _write_rgb(raw / f'{i}_mask.png', _stripes(300, 280, colours, noise=60, seed=i))
    out = tmp_path / 'deepglobe'
    meta = deepglobe.main([str(raw), '--out', str(out), '--crop', '128', '--allow-subset',
                           '--ratios', '10pct', '50pct'])
    assert meta['crops'] == 18
    full = np.concatenate([_read(out / f'ann_dir/deepglobe_10_0_{c}.png') for c in range(3)], 1)
    assert [full[5, i * 280 // 7 + 3] for i in range(7)] == [0, 1, 2, 3, 4, 5, 255]
    with pytest.raises(FileNotFoundError, match='found 2 DeepGlobe training masks.*803'):
        deepglobe.main([str(raw), '--out', str(tmp_path / 'd2')])


def test_import_published_split(tmp_path):
    out = tmp_path / 'potsdam'
    _run_potsdam(_potsdam_raw(tmp_path), out)
    train = _splits(out)['train']
    published = tmp_path / 'labeled.txt'
    published.write_text(f'img_dir/{train[0]}.png ann_dir/{train[0]}.png\n{train[1]}\n\n')
    import_split.main([str(out), str(published), '--name', 'train_labeled_paper',
                       '--unlabeled-from', 'train'])
    s = _splits(out)
    assert s['train_labeled_paper'] == train[:2]
    assert set(s['train_unlabeled_paper']) == set(train[2:])
    published.write_text('potsdam_9_9_0_0\n' + train[0] + '\n')
    with pytest.raises(FileNotFoundError, match=r"1 of the 2 names in '.*labeled.txt' are "
                       r"not crops.*potsdam_9_9_0_0"):
        import_split.main([str(out), str(published), '--name', 'x'])
    test_name = _splits(out)['test'][0]
    published.write_text(test_name + '\n')
    with pytest.raises(ValueError, match='not in splits/train.txt'):
        import_split.main([str(out), str(published), '--name', 'train_labeled_y',
                           '--unlabeled-from', 'train'])
