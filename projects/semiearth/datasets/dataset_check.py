"""One pass over a config's datasets before the first iteration: every
split, image and label that would stop (or silently spoil) training later
is named here, with the value and the fix.

What is checked, per dataset (train labeled / unlabeled, val, test):

- split files: duplicate names (an error, with the line numbers: in
  training they oversample, in val / test they count twice in mIoU); blank
  lines and surrounding whitespace are tolerated;
- every image: readable (header only), its band count equal to the number of
  bands the model normalises (``data_preprocessor.mean``);
- every label: readable, a single channel, the size of its image, values in
  ``0 .. num_classes - 1`` or the ignore index (labels are decoded: a
  palette-coloured or mis-mapped label is caught here);
- across splits: no image both in training and in val / test.

Results are cached per file by (size, modification time) in ``cache_file``,
so a restart is cheap. ``tools/check_dataset.py CONFIG`` runs it alone;
:class:`ConfigCheckHook` runs it at the start of training and testing.
"""
import json
import os
import os.path as osp
from collections import defaultdict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

IGNORE_INDEX = 255
CACHE_VERSION = 1


class DatasetCheckError(ValueError):
    """One or more problems in a config's data; the message lists them all."""


def _image_header(path: str) -> Tuple[int, int, int]:
    """(height, width, bands) without decoding the pixels."""
    if path.lower().endswith(('.tif', '.tiff')):
        import tifffile
        with tifffile.TiffFile(path) as tif:
            # the array LoadRSImageFromFile gets (tifffile.imread: H x W [x C])
            shape = tif.series[0].shape
            return shape[0], shape[1], shape[2] if len(shape) > 2 else 1
    from PIL import Image
    with Image.open(path) as img:
        width, height = img.size
        return height, width, len(img.getbands())


def _label_summary(path: str) -> Tuple[int, int, int, List[int]]:
    """(height, width, channels, distinct values) of a label map, decoded as
    mmseg's ``LoadAnnotations`` does (pillow, unchanged)."""
    from PIL import Image
    with Image.open(path) as img:
        mode = img.mode
        arr = np.asarray(img)
    if mode == 'P':  # palette PNG: the stored indices are the labels
        channels = 1
    else:
        channels = 1 if arr.ndim == 2 else arr.shape[2]
    return arr.shape[0], arr.shape[1], channels, np.unique(arr).tolist()


class _Cache:
    """Per-file results keyed by (path, size, mtime)."""

    def __init__(self, path: Optional[str]) -> None:
        self.path, self.data = path, {}
        if path and osp.isfile(path):
            try:
                with open(path) as f:
                    loaded = json.load(f)
                if loaded.get('version') == CACHE_VERSION:
                    self.data = loaded['files']
            except (OSError, ValueError):
                self.data = {}

    def get(self, kind: str, path: str, compute):
        st = os.stat(path)
        key = f'{kind}:{osp.abspath(path)}'
        stamp = [st.st_size, st.st_mtime_ns]
        hit = self.data.get(key)
        if hit and hit[0] == stamp:
            return hit[1]
        value = compute(path)
        self.data[key] = [stamp, value]
        return value

    def save(self) -> None:
        if not self.path:
            return
        os.makedirs(osp.dirname(osp.abspath(self.path)), exist_ok=True)
        tmp = self.path + '.partial'
        with open(tmp, 'w') as f:
            json.dump(dict(version=CACHE_VERSION, files=self.data), f)
        os.replace(tmp, self.path)


def split_duplicates(ann_file: str) -> Dict[str, List[int]]:
    """Names listed more than once in a split file -> their line numbers."""
    lines = defaultdict(list)
    with open(ann_file, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            name = line.strip()
            if name:
                lines[name].append(number)
    return {name: nums for name, nums in lines.items() if len(nums) > 1}


def _allowed_values(dataset, num_classes: int) -> Tuple[set, str]:
    if getattr(dataset, 'reduce_zero_label', False):
        return set(range(num_classes + 1)) | {IGNORE_INDEX}, \
            f'0..{num_classes} (reduce_zero_label) or {IGNORE_INDEX}'
    return set(range(num_classes)) | {IGNORE_INDEX}, \
        f'0..{num_classes - 1} or {IGNORE_INDEX} (ignore)'


def check_dataset(dataset, role: str, bands: Optional[int], cache: _Cache,
                  check_labels: bool = True) -> Tuple[List[str], List[str]]:
    """Problems of one built mmseg dataset, and its image paths.

    Args:
        dataset: an mmseg ``BaseSegDataset`` (its ``data_list`` built).
        role: how the messages name it ('train (labeled)', 'val', ...).
        bands: band count the model expects, or None not to check it.
        cache: per-file results.
        check_labels: check label maps (off for data without labels).
    """
    problems = []
    name = type(dataset).__name__
    ann = getattr(dataset, 'ann_file', '')
    if ann and osp.isfile(ann):
        for tile, lines in split_duplicates(ann).items():
            effect = 'oversampled in training' if role.startswith('train') else \
                'counted twice in mIoU'
            problems.append(
                f"{role} split '{ann}': '{tile}' is listed {len(lines)} times (lines "
                f"{', '.join(map(str, lines))}), so it would be {effect}. Fix: keep one line.")
    num_classes = len(dataset.metainfo.get('classes', ()))
    allowed, allowed_text = _allowed_values(dataset, num_classes)
    if bands is not None and not _keeps_bands(dataset):
        bands = None  # the loader converts every image to 3-channel colour
    images = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        img = info.get('img_path')
        images.append(img)
        try:
            h, w, c = cache.get('image', img, _image_header)
        except Exception as e:  # any decoder error
            problems.append(f"{role} ({name}): image '{img}' cannot be read ({e}). Fix: "
                            're-run the dataset converter or remove the tile from the split.')
            continue
        if bands is not None and c != bands:
            problems.append(
                f"{role} ({name}): image '{img}' has {c} band(s), but the model normalises "
                f'{bands} (data_preprocessor.mean has {bands} values). Fix: give every '
                f'image {bands} bands (or set mean/std, and the backbone\'s in_channels, to '
                f'{c} values).')
        seg = info.get('seg_map_path')
        if not (check_labels and seg):
            continue
        try:
            lh, lw, lc, values = cache.get('label', seg, _label_summary)
        except Exception as e:
            problems.append(f"{role} ({name}): label '{seg}' cannot be read ({e}). Fix: "
                            're-run the dataset converter.')
            continue
        if lc != 1:
            problems.append(
                f"{role} ({name}): label '{seg}' has {lc} channels; a label map is one "
                'channel of class indices (a colour or a class index repeated in 3 '
                'channels is not read as mmseg reads labels). Fix: save it as a single-'
                'channel (grey or palette) PNG of class indices.')
            continue
        if (lh, lw) != (h, w):
            problems.append(
                f"{role} ({name}): label '{seg}' is {lh} x {lw} but its image '{img}' is "
                f'{h} x {w}; it would be {"resized with the image" if role.startswith("train") else "misaligned in evaluation"}. '
                'Fix: write the label at its image\'s size.')
        bad = sorted(set(values) - allowed)
        if bad:
            problems.append(
                f"{role} ({name}): label '{seg}' has values {bad[:10]} outside {allowed_text} "
                f'for the {num_classes} classes. Fix: map the values to class indices (a '
                'palette-coloured label must be converted), or check num_classes / classes.')
    return problems, images


def _keeps_bands(dataset) -> bool:
    """Whether the dataset's image loader keeps the file's bands (``color_type
    ='unchanged'``, as ``LoadRSImageFromFile``) rather than converting to
    3-channel colour (mmseg's ``LoadImageFromFile`` default)."""
    for t in getattr(getattr(dataset, 'pipeline', None), 'transforms', []):
        if 'Load' in type(t).__name__ and 'Image' in type(t).__name__:
            return getattr(t, 'color_type', 'color') == 'unchanged'
    return False


def _parts(dataset) -> Iterable[Tuple[str, object]]:
    labeled = getattr(dataset, 'labeled', None)
    if labeled is not None:
        yield 'labeled', labeled
        yield 'unlabeled', dataset.unlabeled
    else:
        yield '', dataset


def expected_bands(model_cfg) -> Optional[int]:
    """Bands the model normalises: the length of its preprocessor's mean."""
    for cfg in (model_cfg.get('data_preprocessor'),
                (model_cfg.get('segmentor') or {}).get('data_preprocessor')):
        if cfg and cfg.get('mean') is not None:
            return len(cfg['mean'])
    return None


def check_datasets(datasets: Sequence[Tuple[str, object]], bands: Optional[int],
                   cache_file: Optional[str] = None) -> List[str]:
    """Check ``(split, dataset)`` pairs ('train', 'val', 'test'); return the
    problems (empty: all good) and save the cache (``cache_file``, None: no
    cache)."""
    cache = _Cache(cache_file)
    problems, seen = [], defaultdict(set)
    for split, dataset in datasets:
        for part, ds in _parts(dataset):
            role = f'{split} ({part})' if part else split
            found, images = check_dataset(ds, role, bands, cache)
            problems += found
            seen[split].update(osp.abspath(p) for p in images)
    for held_out in ('val', 'test'):
        both = sorted(seen['train'] & seen[held_out])
        if both:
            problems.append(
                f'{len(both)} image(s) are both in training and in {held_out}, e.g. '
                f"'{both[0]}': {held_out} mIoU would be measured on training images. Fix: "
                'make the split files disjoint.')
    cache.save()
    return problems


def raise_if_problems(problems: List[str], where: str) -> None:
    if problems:
        listed = '\n'.join(f'  - {p}' for p in problems[:30])
        more = f'\n  ... and {len(problems) - 30} more' if len(problems) > 30 else ''
        raise DatasetCheckError(f'{len(problems)} problem(s) in the data of {where}:\n'
                                f'{listed}{more}')
