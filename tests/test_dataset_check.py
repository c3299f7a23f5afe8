"""Bad input is caught before iteration 1, naming the file, the value and the
fix: each bad input of docs/robustness.md is a test here, run through
tools/check_dataset.py (the same checks ConfigCheckHook runs at the start of
training) on a copy of the converted NC Landsat data with one thing broken."""
import importlib.util
import os.path as osp
import shutil
import sys

import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import FIXMATCH_CONFIG, ROOT, data_options

_spec = importlib.util.spec_from_file_location('check_dataset',
                                               osp.join(ROOT, 'tools', 'check_dataset.py'))
check_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_tool)


@pytest.fixture
def data(nc_data, tmp_path):
    """A private copy of the converted data (broken by each test)."""
    root = tmp_path / 'nc'
    shutil.copytree(nc_data, root)
    return root


def _check(root, capsys, config=FIXMATCH_CONFIG, extra=()):
    """tools/check_dataset.py on ``root``: (exit code, printed report)."""
    opts = [o for o in data_options(str(root), semi=True) if 'data_root' in o] + list(extra)
    code = check_tool.main([config, '--cfg-options', *opts])
    return code, capsys.readouterr().out


def _split(root, name):
    return root / 'splits' / f'{name}.txt'


def _names(root, name):
    return [s.strip() for s in _split(root, name).read_text().splitlines() if s.strip()]


def _label(root, name):
    return root / 'ann_dir' / f'{name}.png'


def _image(root, name):
    return root / 'img_dir' / 'ms' / f'{name}.tif'


def test_clean_data_passes(data, capsys):
    code, out = _check(data, capsys)
    assert code == 0 and out.strip().endswith(')') and '0 problem(s)' in out


# ------------------------------------------------------------ split files
def test_blank_lines_and_whitespace_are_tolerated(data, capsys):
    split = _split(data, 'train_labeled_1of8')
    names = _names(data, 'train_labeled_1of8')
    split.write_bytes(('\r\n'.join(['', f'  {names[0]}  '] + names[1:] + ['', ''])).encode())
    code, out = _check(data, capsys)
    assert code == 0, out
    from mmseg.registry import DATASETS
    from mmengine.config import Config
    cfg = Config.fromfile(FIXMATCH_CONFIG)
    ds = cfg.train_dataloader.dataset.labeled
    ds.data_root = str(data)
    assert len(DATASETS.build(ds)) == len(names)


@pytest.mark.parametrize('split,effect', [('train_labeled_1of8', 'oversampled in training'),
                                          ('val', 'counted twice in mIoU')])
def test_duplicate_names_are_errors_with_line_numbers(data, capsys, split, effect):
    names = _names(data, split)
    _split(data, split).write_text('\n'.join(names + [names[1]]) + '\n')
    code, out = _check(data, capsys)
    assert code == 1
    assert f"'{names[1]}' is listed 2 times (lines 2, {len(names) + 1})" in out
    assert effect in out and 'keep one line' in out


def test_missing_image_names_the_file(data, capsys):
    name = _names(data, 'val')[0]
    _image(data, name).unlink()
    with pytest.raises(FileNotFoundError, match=f"{name}.tif' is missing.*nc_landsat.py"):
        _check(data, capsys)


def test_missing_label_names_the_file(data, capsys):
    name = _names(data, 'train_labeled_1of8')[0]
    _label(data, name).unlink()
    with pytest.raises(FileNotFoundError, match=f"label '.*{name}.png' is missing"):
        _check(data, capsys)


def test_empty_split_missing_split_and_missing_root(data, capsys, tmp_path):
    _split(data, 'test').write_text('\n\n')
    with pytest.raises(ValueError, match="test.txt' names no tile"):
        _check(data, capsys)
    _split(data, 'test').unlink()
    with pytest.raises(FileNotFoundError, match="split file .*test.txt' does not exist"):
        _check(data, capsys)
    with pytest.raises(FileNotFoundError, match="data root .*nowhere' does not exist"):
        _check(tmp_path / 'nowhere', capsys)


def test_a_tile_in_training_and_test_is_a_leak(data, capsys):
    train = _names(data, 'train_labeled_1of8')
    test = _names(data, 'test')
    _split(data, 'test').write_text('\n'.join(test + [train[0]]) + '\n')
    code, out = _check(data, capsys)
    assert code == 1 and 'both in training and in test' in out and train[0] in out


# ----------------------------------------------------------------- images
@pytest.mark.parametrize('content', [b'', b'not a tiff at all'])
def test_unreadable_or_empty_image(data, capsys, content):
    name = _names(data, 'train_unlabeled_1of8')[0]
    _image(data, name).write_bytes(content)
    code, out = _check(data, capsys)
    assert code == 1 and f"image '{_image(data, name)}' cannot be read" in out
    assert 're-run the dataset converter' in out


@pytest.mark.parametrize('bands', [4, 3])
def test_band_count_that_the_model_does_not_normalise(data, capsys, bands):
    """A 4-band (or 3-band) TIFF among 6-band tiles: named before training,
    not a crash in the preprocessor when the tile is drawn."""
    name = _names(data, 'train_labeled_1of8')[1]
    img = tifffile.imread(str(_image(data, name)))
    tifffile.imwrite(str(_image(data, name)), np.ascontiguousarray(img[..., :bands]))
    code, out = _check(data, capsys)
    assert code == 1
    assert f"'{_image(data, name)}' has {bands} band(s), but the model normalises 6" in out


# ----------------------------------------------------------------- labels
def test_unreadable_label(data, capsys):
    name = _names(data, 'val')[0]
    _label(data, name).write_bytes(b'\x89PNG broken')
    code, out = _check(data, capsys)
    assert code == 1 and f"label '{_label(data, name)}' cannot be read" in out


def test_class_index_in_three_channels(data, capsys):
    """Trains one iteration, then 'stack expects each tensor to be equal
    size' with no file named, without the check."""
    name = _names(data, 'train_labeled_1of8')[0]
    seg = np.asarray(Image.open(_label(data, name)))
    Image.fromarray(np.stack([seg] * 3, -1)).save(_label(data, name))
    code, out = _check(data, capsys)
    assert code == 1 and f"label '{_label(data, name)}' has 3 channels" in out
    assert 'single-channel' in out


def test_colour_label_instead_of_class_indices(data, capsys):
    name = _names(data, 'train_labeled_1of8')[0]
    seg = np.asarray(Image.open(_label(data, name)))
    palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0],
                        [0, 255, 255], [255, 0, 255]] + [[0, 0, 0]] * 250, np.uint8)
    Image.fromarray(palette[seg]).save(_label(data, name))
    code, out = _check(data, capsys)
    assert code == 1 and 'has 3 channels' in out


@pytest.mark.parametrize('split', ['train_labeled_1of8', 'train_unlabeled_1of8', 'val'])
def test_label_value_out_of_range(data, capsys, split):
    """Value 9 with 6 classes: in a labeled, an unlabeled (diagnostics) or a
    val label."""
    name = _names(data, split)[0]
    seg = np.array(Image.open(_label(data, name)))
    seg[0, 0] = 9
    Image.fromarray(seg).save(_label(data, name))
    code, out = _check(data, capsys)
    assert code == 1
    assert f"label '{_label(data, name)}' has values [9] outside 0..5 or 255" in out


@pytest.mark.parametrize('split,effect', [('train_labeled_1of8', 'resized with the image'),
                                          ('val', 'misaligned in evaluation')])
def test_label_of_another_size_than_its_image(data, capsys, split, effect):
    name = _names(data, split)[0]
    seg = np.array(Image.open(_label(data, name)))
    Image.fromarray(seg[:-2]).save(_label(data, name))
    code, out = _check(data, capsys)
    assert code == 1 and f"'{_label(data, name)}' is 30 x 32 but its image" in out
    assert effect in out


def test_every_problem_is_listed_at_once(data, capsys):
    a, b = _names(data, 'val')[:2]
    _label(data, a).write_bytes(b'')
    img = tifffile.imread(str(_image(data, b)))
    tifffile.imwrite(str(_image(data, b)), np.ascontiguousarray(img[..., :4]))
    code, out = _check(data, capsys)
    assert code == 1 and '2 problem(s)' in out and a in out and b in out


# ------------------------------------------------------------ the command line
def test_path_with_spaces_through_cfg_options(nc_data, tmp_path, capsys):
    """MMEngine's --cfg-options removes every space of a value; ours keeps a
    plain value's spaces, so data_root='.../my data' is found."""
    root = tmp_path / 'my data' / 'nc landsat'
    shutil.copytree(nc_data, root)
    code, out = _check(root, capsys)
    assert code == 0, out


def test_results_are_cached_by_size_and_time(data, tmp_path, capsys, monkeypatch):
    import semiearth.datasets.dataset_check as mod
    calls = []
    real = mod._label_summary
    monkeypatch.setattr(mod, '_label_summary', lambda p: calls.append(p) or real(p))
    cache = str(tmp_path / 'cache.json')
    opts = [o for o in data_options(str(data), semi=True) if 'data_root' in o]
    assert check_tool.main([FIXMATCH_CONFIG, '--cache', cache, '--cfg-options', *opts]) == 0
    first = len(calls)
    assert first > 100
    assert check_tool.main([FIXMATCH_CONFIG, '--cache', cache, '--cfg-options', *opts]) == 0
    assert len(calls) == first  # nothing decoded again
    name = _names(data, 'val')[0]
    seg = np.array(Image.open(_label(data, name)))
    seg[0, 0] = 9
    Image.fromarray(seg).save(_label(data, name))
    assert check_tool.main([FIXMATCH_CONFIG, '--cache', cache, '--cfg-options', *opts]) == 1
    assert calls[first:] == [str(_label(data, name))]


# ---------------------------------------------------- before iteration 1
def test_training_stops_before_the_first_iteration(data, mbv2_ms6, tmp_path):
    """Through tools/train.py: ConfigCheckHook runs the checks in
    before_train; the run fails with every problem listed and never reaches
    iteration 1."""
    import subprocess
    name = _names(data, 'val')[0]
    seg = np.array(Image.open(_label(data, name)))
    Image.fromarray(seg[:-2]).save(_label(data, name))
    args = [sys.executable, 'tools/train.py', FIXMATCH_CONFIG, '--work-dir',
            str(tmp_path / 'work'), '--cfg-options',
            *data_options(str(data), mbv2_ms6, semi=True)]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert 'DatasetCheckError' in log and f'{name}.png' in log
    assert 'Iter(train)' not in log
