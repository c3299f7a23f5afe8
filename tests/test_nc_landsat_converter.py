"""tools/dataset_converters/nc_landsat.py on the real scene and on bad input."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import tifffile

import nc_landsat


def _split(root, name):
    with open(osp.join(root, 'splits', name + '.txt')) as f:
        return [s.strip() for s in f if s.strip()]


def test_tiles_and_labels(nc_data):
    meta = json.load(open(osp.join(nc_data, 'meta.json')))
    names = _split(nc_data, 'train') + _split(nc_data, 'val') + _split(nc_data, 'test')
    assert len(names) == len(set(names)) == sum(meta['num_tiles'].values())
    # 15 x 15 full 32-px tiles fit the 443 x 489 scene; the nodata border drops some
    assert 150 < len(names) < 15 * 15
    for name in names:
        ms = tifffile.imread(osp.join(nc_data, 'img_dir/ms', name + '.tif'))
        rgb = cv2.imread(osp.join(nc_data, 'img_dir/rgb', name + '.png'))
        lab = cv2.imread(osp.join(nc_data, 'ann_dir', name + '.png'), cv2.IMREAD_UNCHANGED)
        assert ms.shape == (32, 32, 6) and ms.dtype == np.uint8
        assert lab.shape == (32, 32) and lab.dtype == np.uint8
        # the PNG is B, G, R = bands 10, 20, 30, the first three of the tif
        np.testing.assert_array_equal(rgb, ms[..., :3])
        nodata = np.all(ms == 0, axis=-1)
        assert not np.any((ms == 0) & ~nodata[..., None]), "0 must mean nodata only"
        assert nodata.mean() <= 0.5
        # the map is labelled under the nodata border; the converter masks it
        assert np.all(lab[nodata] == 255)
        assert set(np.unique(lab)) <= set(range(6)) | {255}


def test_sediment_and_nodata_are_ignored_everywhere(nc_data):
    bands, strata = nc_landsat.read_scene(nc_landsat.default_source())
    img, label, valid, _ = nc_landsat.to_tiles_input(bands, strata)
    assert (strata == 7).sum() == 194
    assert np.all(label[strata == 7] == 255)
    assert np.all(label[~valid] == 255)
    assert (~valid).sum() == 33209
    # band 70's second nodata value is filled, not left as a dark hole
    b70 = img[..., 5][valid]
    assert b70.min() >= 1 and (b70 == 1).mean() < 0.05


def test_splits_are_blocked_disjoint_and_nested(nc_data):
    train, val, test = (set(_split(nc_data, s)) for s in ('train', 'val', 'test'))
    assert not (train & val) and not (train & test) and not (val & test)
    assert 0.15 < len(val) / (len(train) + len(val) + len(test)) < 0.25

    def block(name):  # nc_y{y}_x{x}, 96-px blocks
        y, x = int(name[4:7]), int(name[9:12])
        return y // 96, x // 96
    blocks = {s: {block(n) for n in names} for s, names in
              (('train', train), ('val', val), ('test', test))}
    assert not (blocks['train'] & blocks['test'])
    assert not (blocks['train'] & blocks['val'])
    assert not (blocks['val'] & blocks['test'])

    prev = set()
    for tag in ('1of32', '1of16', '1of8', '1of4'):
        lab = set(_split(nc_data, f'train_labeled_{tag}'))
        unl = set(_split(nc_data, f'train_unlabeled_{tag}'))
        assert lab | unl == train and not (lab & unl)
        assert prev <= lab, f'{tag} is not nested'
        denom = int(tag.split('of')[1])
        assert len(lab) == max(1, round(len(train) / denom))
        prev = lab


def test_seeded_and_rerun_skips(nc_data, tmp_path, capsys):
    args = nc_landsat.parse_args(['--out', nc_data])
    nc_landsat.convert(args)
    assert 'up to date' in capsys.readouterr().out
    other = nc_landsat.convert(nc_landsat.parse_args(
        ['--out', str(tmp_path / 'b'), '--split-seed', '1']))
    assert _split(str(tmp_path / 'b'), 'test') != _split(nc_data, 'test')
    assert other['settings']['split_seed'] == 1


def test_missing_source_file_is_named(tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    with pytest.raises(FileNotFoundError, match=r'lsat7_2000_10\.tif.*pip install'):
        nc_landsat.read_scene(str(src))
    with pytest.raises(SystemExit, match='does not exist'):
        nc_landsat.main(['--src', str(tmp_path / 'nowhere'), '--out', str(tmp_path / 'o')])


def test_bad_ratio_rejected():
    with pytest.raises(ValueError, match='must be in'):
        nc_landsat.ratio_tag('3/2')
    assert nc_landsat.ratio_tag('1/8') == '1of8'
