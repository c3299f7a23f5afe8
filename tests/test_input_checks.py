"""Nothing silent, nothing late (issue 22): each bad input is refused before
iteration 1 (or at load), naming the file or key and the fix. The data cases
run through tools/check_dataset.py (what ConfigCheckHook runs before
iteration 1), on a private copy of the converted NC Landsat data."""
import os.path as osp

import numpy as np
import pytest
import tifffile
import torch
from mmengine.config import Config
from PIL import Image

from conftest import FIXMATCH_CONFIG, ROOT
from test_dataset_check import _check, _image, _label, _names, _split, data  # noqa: F401

SUPERVISED_CONFIG = osp.join(
    ROOT, 'configs/supervised/supervised_deeplabv3plus-mbv2_1xb8-300i_nclandsat-1of8-128x128.py')


def _nan_tiff(path):
    """The tile as float32 with one NaN pixel value."""
    img = tifffile.imread(str(path)).astype(np.float32)
    img[3, 4, 1] = np.nan
    tifffile.imwrite(str(path), img)


# ------------------------------------------------------ non-finite pixels
@pytest.mark.parametrize('split', ['train_labeled_1of8', 'train_unlabeled_1of8'])
def test_a_nan_float_tiff_is_refused_by_the_check(data, capsys, split):  # noqa: F811
    name = _names(data, split)[0]
    _nan_tiff(_image(data, name))
    code, out = _check(data, capsys)
    assert code == 1
    assert f"image '{_image(data, name)}' has 1 non-finite (NaN / inf) pixel value(s)" in out
    assert 'NaN loss' in out and 'Fix:' in out


def test_a_nan_float_tiff_is_refused_at_load(tmp_path):
    """Without the check (check_data=False, or a file changed since): the
    loader names the file rather than train on a NaN loss."""
    from semiearth.datasets.transforms import LoadRSImageFromFile
    path = tmp_path / 'tile.tif'
    tifffile.imwrite(str(path), np.ones((8, 8, 6), np.float32))
    load = LoadRSImageFromFile()
    assert load(dict(img_path=str(path)))['img'].shape == (8, 8, 6)
    _nan_tiff(path)
    with pytest.raises(ValueError, match=r"tile\.tif' has 1 non-finite .*Fix: re-run"):
        load(dict(img_path=str(path)))


def test_a_non_finite_loss_stops_the_run_naming_the_iteration():
    from mmseg.structures import SegDataSample
    from semiearth.engine.hooks import NonFiniteLossHook

    class Runner:
        iter = 6

    sample = SegDataSample(metainfo=dict(img_path='/data/tile_7.tif'))
    batch = dict(inputs=[torch.zeros(1)], data_samples=[sample])
    hook = NonFiniteLossHook()
    hook.after_train_iter(Runner(), 6, batch, dict(loss=torch.tensor(0.5)))
    with pytest.raises(FloatingPointError, match=r'iteration 7: non-finite loss '
                       r'loss=nan, loss_sup=inf.*tile_7\.tif'):
        hook.after_train_iter(Runner(), 6, batch, dict(loss=torch.tensor(float('nan')),
                                                       loss_sup=torch.tensor(float('inf')),
                                                       acc=torch.tensor(float('nan'))))


# ------------------------------------------------------------- labels
def test_a_labeled_set_with_no_valid_label_pixel_is_an_error(data, capsys):  # noqa: F811
    names = _names(data, 'train_labeled_1of8')
    for name in names:
        seg = np.asarray(Image.open(_label(data, name)))
        Image.fromarray(np.full_like(seg, 255)).save(_label(data, name))
    code, out = _check(data, capsys)
    assert code == 1
    assert (f'train (labeled) (NCLandsatDataset): none of its {len(names)} label maps has a '
            'valid label pixel (the values are [255], all ignored)') in out
    assert 'no supervision' in out and 'train_labeled_1of8.txt' in out


# ---------------------------------------------------------- truncated files
def test_a_truncated_tiff_whose_header_reads_is_caught(data, capsys):  # noqa: F811
    """Cut short in its pixel data: tifffile still opens it (the header and
    the first directory are at the start), and it used to fail only at the
    iteration that loaded it."""
    name = _names(data, 'train_unlabeled_1of8')[2]
    path = _image(data, name)
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 3])
    with tifffile.TiffFile(str(path)) as tif:  # the header still reads
        assert tif.series[0].shape == (32, 32, 6)
    from semiearth.datasets.transforms import LoadRSImageFromFile
    with pytest.raises(OSError, match='Cannot read image tile'):  # what loading it does
        LoadRSImageFromFile()(dict(img_path=str(path)))
    code, out = _check(data, capsys)
    assert code == 1
    assert f"image '{path}' is truncated: its pixel data runs to byte" in out
    assert 'Fix:' in out


# ------------------------------------------------------------- split files
@pytest.mark.parametrize('split', ['train_labeled_1of8', 'val'])
def test_a_split_file_that_is_not_utf8_is_named(data, capsys, split):  # noqa: F811
    names = _names(data, split)
    _split(data, split).write_bytes(
        '\n'.join(names[:2]).encode() + b'\n' + names[2].encode('utf-16') + b'\n')
    from semiearth.datasets.dataset_check import SplitFileError
    with pytest.raises(SplitFileError, match=rf"split file '.*{split}.txt' is not UTF-8 text: "
                       r"line 3 has the byte b'\\xff'.*Fix: save the file as UTF-8"):
        _check(data, capsys)


def test_a_plain_dataset_names_a_split_file_that_is_not_utf8(data):  # noqa: F811
    """The val set (and the supervised configs' train set) read by mmseg's
    dataset class: the file is named too, not a bare UnicodeDecodeError."""
    from semiearth.datasets import NCLandsatDataset
    from semiearth.datasets.dataset_check import SplitFileError
    names = _names(data, 'val')
    _split(data, 'val').write_bytes('\n'.join(names[:2]).encode() + b'\n\xff\xfe\n')
    with pytest.raises(SplitFileError, match=r"split file '.*val.txt' is not UTF-8 text: line 3"):
        NCLandsatDataset(data_root=str(data), ann_file='splits/val.txt',
                         data_prefix=dict(img_path='img_dir', seg_map_path='ann_dir'))


# ------------------------------------------------------------ config keys
@pytest.mark.parametrize('key,message', [
    ('default_hooks.checkpoint.max_keep_ckpt',
     "default_hooks.checkpoint.max_keep_ckpt: SafeCheckpointHook has no argument "
     "'max_keep_ckpt' (did you mean default_hooks.checkpoint.max_keep_ckpts?)"),
    ('train_cfg.val_intervl', 'train_cfg.val_intervl: SkipAheadIterBasedTrainLoop has no '
     "argument 'val_intervl' (did you mean train_cfg.val_interval?)"),
    ('val_cfg.fp61', "val_cfg.fp61: TeacherStudentValLoop has no argument 'fp61'"),
])
def test_an_unknown_hook_or_loop_key_is_refused_naming_it(key, message):
    from semiearth.engine.hooks.config_check_hook import ConfigCheckHook, check_config_keys
    cfg = Config.fromfile(FIXMATCH_CONFIG)
    check_config_keys(cfg)
    cfg.merge_from_dict({key: 1})
    with pytest.raises(ValueError, match='refused before training') as err:
        check_config_keys(cfg)
    assert message in str(err.value)

    class Runner:  # ConfigCheckHook runs it before the run (before resuming)
        pass
    runner = Runner()
    runner.cfg = cfg
    with pytest.raises(ValueError, match='refused before training'):
        ConfigCheckHook().before_run(runner)


def test_every_kind_of_config_passes_the_key_check():
    from semiearth.engine.hooks.config_check_hook import check_config_keys
    for config in (SUPERVISED_CONFIG, FIXMATCH_CONFIG, osp.join(
            ROOT, 'configs/mmseg_protocol/semiearth/semiearth_deeplabv3plus-r101-d8_4xb8-80k_'
            'mmseg-potsdam-1of8-512x512.py')):
        check_config_keys(Config.fromfile(config))


# ----------------------------------------------------- once per start
def test_the_data_check_runs_on_rank_0_only_and_every_rank_gets_the_verdict(monkeypatch):
    import semiearth.engine.hooks.config_check_hook as mod
    from semiearth.datasets.dataset_check import DatasetCheckError
    checked = []
    monkeypatch.setattr(mod, 'check_datasets',
                        lambda *a: checked.append(a) or ['a problem named on rank 0'])

    def broadcast(objects, src=0):  # what rank 0 sent
        objects[0] = ['a problem named on rank 0']
    monkeypatch.setattr(mod, 'broadcast_object_list', broadcast)
    monkeypatch.setattr(mod, 'is_main_process', lambda: False)

    class Runner:
        cfg, work_dir = None, None
    with pytest.raises(DatasetCheckError, match='a problem named on rank 0'):
        mod.ConfigCheckHook()._check_data(Runner(), [('train', object())])
    assert checked == []  # rank 1 did not check
    monkeypatch.setattr(mod, 'is_main_process', lambda: True)
    with pytest.raises(DatasetCheckError):
        mod.ConfigCheckHook()._check_data(Runner(), [('train', object())])
    assert len(checked) == 1


def test_train_tool_refuses_a_typo_in_a_loop_key_before_building_anything(tmp_path):
    """tools/train.py checks the keys right after --cfg-options: a loop key
    typo is named by its full path (MMEngine's loop constructor would give a
    bare TypeError)."""
    import subprocess
    import sys
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', SUPERVISED_CONFIG, '--work-dir', str(tmp_path),
         '--cfg-options', 'train_cfg.val_intervl=5'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "train_cfg.val_intervl: SkipAheadIterBasedTrainLoop has no argument 'val_intervl' " \
        '(did you mean train_cfg.val_interval?)' in proc.stderr
    assert not any(tmp_path.iterdir())  # refused before the runner made its work dir
