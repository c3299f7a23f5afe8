"""NCLandsatDataset, its loading transforms and their errors on bad input."""
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmseg.registry import DATASETS

from conftest import SUP_CONFIG


def _dataset_cfg(root, split='train_labeled_1of8', pipeline='train_pipeline'):
    cfg = Config.fromfile(SUP_CONFIG)
    ds = cfg.train_dataloader.dataset.copy()
    ds.update(data_root=root, ann_file=f'splits/{split}.txt',
              pipeline=cfg[pipeline])
    return ds


def _copy(root, tmp_path):
    dst = str(tmp_path / 'data')
    shutil.copytree(root, dst)
    return dst


def test_dataset_yields_six_band_samples(nc_data):
    ds = DATASETS.build(_dataset_cfg(nc_data))
    with open(osp.join(nc_data, 'splits/train_labeled_1of8.txt')) as f:
        assert len(ds) == len(f.read().split())
    assert ds.metainfo['classes'][0] == 'developed' and len(ds.metainfo['classes']) == 6
    sample = ds[0]
    img = sample['inputs']
    # RandomResize(0.5-2.0) then RandomCrop(128): a ratio under 1 leaves the
    # tile smaller than the crop (the data preprocessor pads it later)
    assert img.shape[0] == 6 and 64 <= img.shape[1] <= 128 and 64 <= img.shape[2] <= 128
    seg = sample['data_samples'].gt_sem_seg.data
    assert seg.shape == (1, *img.shape[1:])
    assert set(np.unique(seg.numpy())) <= set(range(6)) | {255}


def test_test_pipeline_keeps_original_label_size(nc_data):
    ds = DATASETS.build(_dataset_cfg(nc_data, 'test', 'test_pipeline'))
    sample = ds[0]
    assert sample['inputs'].shape == (6, 128, 128)
    # evaluation happens at the tiles' own 32-px resolution
    assert sample['data_samples'].ori_shape == (32, 32)
    assert sample['data_samples'].gt_sem_seg.data.shape[-2:] == (32, 32)


def test_missing_data_root_names_root_and_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data root .*nowhere.* does not exist.*nc_landsat\.py"):
        DATASETS.build(_dataset_cfg(str(tmp_path / 'nowhere')))


def test_missing_split_file(nc_data):
    with pytest.raises(FileNotFoundError, match=r"split file .*train_labeled_1of3\.txt"):
        DATASETS.build(_dataset_cfg(nc_data, 'train_labeled_1of3'))


def test_split_naming_missing_tile(nc_data, tmp_path):
    root = _copy(nc_data, tmp_path)
    with open(osp.join(root, 'splits/val.txt'), 'a') as f:
        f.write('nc_y999_x999\n')
    with pytest.raises(FileNotFoundError,
                       match=r"val\.txt' names a tile whose image .*nc_y999_x999\.tif.*Fix"):
        DATASETS.build(_dataset_cfg(root, 'val', 'test_pipeline'))


def test_corrupt_tile_names_file_and_fix(nc_data, tmp_path):
    root = _copy(nc_data, tmp_path)
    ds = DATASETS.build(_dataset_cfg(root, 'val', 'test_pipeline'))
    path = ds.get_data_info(0)['img_path']
    with open(path, 'wb') as f:
        f.write(b'not a tiff at all')
    with pytest.raises(OSError, match=r"Cannot read image tile .*\.tif.*--force"):
        ds[0]


def test_label_outside_classes_names_file(nc_data, tmp_path):
    root = _copy(nc_data, tmp_path)
    ds = DATASETS.build(_dataset_cfg(root, 'val', 'test_pipeline'))
    path = ds.get_data_info(0)['seg_map_path']
    lab = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    lab[0, 0] = 7
    cv2.imwrite(path, lab)
    with pytest.raises(ValueError, match=r"Label map .*\.png' has values \[7\] outside the 6 classes"):
        ds[0]


def test_rgb_rendering_loads_as_bgr(nc_data):
    from semiearth.datasets import LoadRSImageFromFile
    name = open(osp.join(nc_data, 'splits/val.txt')).readline().strip()
    t = LoadRSImageFromFile()
    png = t(dict(img_path=osp.join(nc_data, 'img_dir/rgb', name + '.png')))['img']
    tif = t(dict(img_path=osp.join(nc_data, 'img_dir/ms', name + '.tif')))['img']
    assert png.shape == (32, 32, 3) and tif.shape == (32, 32, 6)
    np.testing.assert_array_equal(png, tif[..., :3])
