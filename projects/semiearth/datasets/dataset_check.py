"""One pass over a config's datasets before the first iteration: every
split, image and label that would stop (or silently spoil) training later
is named here, with the value and the fix.

What is checked, per dataset (train labeled / unlabeled, val, test):

- split files: UTF-8 text, no duplicate names (an error, with the line
  numbers: in training they oversample, in val / test they count twice in
  mIoU); blank lines and surrounding whitespace are tolerated;
- every image: readable, complete (a TIFF's strips / tiles all inside the
  file, read from its structure without decoding; other formats decoded),
  finite (float images are decoded: NaN / inf pixels give a NaN loss), its
  band count equal to the number of bands the model normalises
  (``data_preprocessor.mean``);
- every label: readable, a single channel, the size of its image, values in
  ``0 .. num_classes - 1`` or the ignore index (labels are decoded: a
  palette-coloured or mis-mapped label is caught here);
- a labeled training set: at least one valid (not ignored) label pixel;
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

from ..utils import atomic_write_text

IGNORE_INDEX = 255
CACHE_VERSION = 2


class DatasetCheckError(ValueError):
    """One or more problems in a config's data; the message lists them all."""


def _tiff_summary(path: str) -> Tuple[int, int, int, Optional[str]]:
    """(height, width, bands, problem) of a TIFF. The structure is read, not
    the pixels: every strip / tile of the image must lie inside the file (a
    file cut short is caught without decoding). Float images are decoded, as
    only their pixels can say whether they are finite."""
    import tifffile
    size = osp.getsize(path)
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        # the array LoadRSImageFromFile gets (tifffile.imread: H x W [x C])
        shape = series.shape
        h, w, c = shape[0], shape[1], shape[2] if len(shape) > 2 else 1
        # a contiguous series is read in one piece from its data offset
        ends = [series.dataoffset + series.nbytes] if series.dataoffset is not None else []
        for page in series.pages:
            if page is not None:
                ends += [o + n for o, n in zip(page.dataoffsets, page.databytecounts)]
        if max(ends, default=0) > size:
            return h, w, c, (f'truncated: its pixel data runs to byte {max(ends)} but the '
                             f'file has {size} bytes')
        if np.issubdtype(series.dtype, np.floating):
            return h, w, c, _nonfinite(series.asarray())
    return h, w, c, None


def _nonfinite(pixels: np.ndarray) -> Optional[str]:
    bad = int(pixels.size - np.count_nonzero(np.isfinite(pixels)))
    return f'{bad} non-finite (NaN / inf) pixel value(s)' if bad else None


def _image_summary(path: str) -> Tuple[int, int, int, Optional[str]]:
    """(height, width, bands, problem or None) of an image. TIFFs: see
    :func:`_tiff_summary`; other formats are decoded (pillow reads a cut-short
    file's header without complaint)."""
    if path.lower().endswith(('.tif', '.tiff')):
        return _tiff_summary(path)
    from PIL import Image
    with Image.open(path) as img:
        width, height = img.size
        bands = len(img.getbands())
        pixels = np.asarray(img)  # decodes: raises on a truncated file
    problem = _nonfinite(pixels) if np.issubdtype(pixels.dtype, np.floating) else None
    return height, width, bands, problem


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
    if arr.dtype == np.uint8:  # counting is linear; np.unique sorts (4x slower at 512 px)
        values = np.flatnonzero(np.bincount(arr.ravel(), minlength=256)).tolist()
    else:
        values = np.unique(arr).tolist()
    return arr.shape[0], arr.shape[1], channels, values


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
        atomic_write_text(self.path, json.dumps(dict(version=CACHE_VERSION, files=self.data)))


class SplitFileError(ValueError):
    """A split file that is not UTF-8 text."""


def read_split_lines(ann_file: str) -> List[str]:
    """The lines of a split file, decoded as UTF-8 (as MMEngine reads it);
    a file that is not UTF-8 raises :class:`SplitFileError` naming the file,
    the line and the byte."""
    with open(ann_file, 'rb') as f:
        raw = f.read()
    try:
        return raw.decode('utf-8').splitlines()
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b'\n') + 1
        raise SplitFileError(
            f"split file '{ann_file}' is not UTF-8 text: line {line} has the byte "
            f'{raw[e.start:e.start + 1]!r} ({e.reason}). Fix: save the file as UTF-8 (one '
            'image name a line; names with non-ASCII characters re-encoded).') from None


def decode_split_of(dataset_cfg) -> None:
    """Decode the local split file a dataset config names (``ann_file``,
    under ``data_root``; the parts of a ``SemiDataset`` config too) before
    the dataset is built: MMEngine's reader raises a bare
    ``UnicodeDecodeError`` naming no file, this raises
    :class:`SplitFileError` naming it."""
    if not isinstance(dataset_cfg, dict):
        return
    for part in ('labeled', 'unlabeled'):
        decode_split_of(dataset_cfg.get(part))
    ann, root = dataset_cfg.get('ann_file'), dataset_cfg.get('data_root')
    if not ann or not isinstance(ann, str):
        return
    path = osp.join(root, ann) if root and not osp.isabs(ann) else ann
    if osp.isfile(path):
        read_split_lines(path)


def split_duplicates(ann_file: str) -> Dict[str, List[int]]:
    """Names listed more than once in a split file -> their line numbers."""
    lines = defaultdict(list)
    for number, line in enumerate(read_split_lines(ann_file), 1):
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


def _split_problems(ann: str, role: str) -> List[str]:
    """Undecodable text or duplicate names in a split file."""
    try:
        duplicates = split_duplicates(ann) if ann and osp.isfile(ann) else {}
    except SplitFileError as e:
        return [f'{role}: {e}']
    effect = 'oversampled in training' if role.startswith('train') else 'counted twice in mIoU'
    return [f"{role} split '{ann}': '{tile}' is listed {len(lines)} times (lines "
            f"{', '.join(map(str, lines))}), so it would be {effect}. Fix: keep one line."
            for tile, lines in duplicates.items()]


def _image_problems(where: str, img: str, bands: Optional[int], cache: _Cache
                    ) -> Tuple[List[str], Optional[Tuple[int, int]]]:
    """Problems of one image, and its (height, width) when it could be read."""
    try:
        h, w, c, bad_pixels = cache.get('image', img, _image_summary)
    except Exception as e:  # any decoder error
        return [f"{where}: image '{img}' cannot be read ({e}). Fix: re-run the dataset "
                'converter or remove the tile from the split.'], None
    problems = []
    if bad_pixels:
        problems.append(f"{where}: image '{img}' is {bad_pixels}; training on it would "
                        'stop or give a NaN loss. Fix: re-run the dataset converter or remove '
                        'the tile from the split.' if bad_pixels.startswith('truncated') else
                        f"{where}: image '{img}' has {bad_pixels}; training on it gives a NaN "
                        'loss. Fix: re-run the dataset converter, or replace them (e.g. by a '
                        'nodata value whose label pixels are 255).')
    if bands is not None and c != bands:
        problems.append(
            f"{where}: image '{img}' has {c} band(s), but the model normalises {bands} "
            f'(data_preprocessor.mean has {bands} values). Fix: give every image {bands} '
            f"bands (or set mean/std, and the backbone's in_channels, to {c} values).")
    return problems, (h, w)


def _label_problems(where: str, seg: str, img: str, size: Optional[Tuple[int, int]],
                    allowed: set, allowed_text: str, num_classes: int, training: bool,
                    cache: _Cache) -> Tuple[List[str], set]:
    """Problems of one label map, and its values."""
    try:
        lh, lw, lc, values = cache.get('label', seg, _label_summary)
    except Exception as e:
        return [f"{where}: label '{seg}' cannot be read ({e}). Fix: re-run the dataset "
                'converter.'], set()
    if lc != 1:
        return [f"{where}: label '{seg}' has {lc} channels; a label map is one channel of "
                'class indices (a colour or a class index repeated in 3 channels is not read '
                'as mmseg reads labels). Fix: save it as a single-channel (grey or palette) '
                'PNG of class indices.'], set()
    problems = []
    if size is not None and (lh, lw) != size:
        effect = 'resized with the image' if training else 'misaligned in evaluation'
        problems.append(
            f"{where}: label '{seg}' is {lh} x {lw} but its image '{img}' is {size[0]} x "
            f"{size[1]}; it would be {effect}. Fix: write the label at its image's size.")
    bad = sorted(set(values) - allowed)
    if bad:
        problems.append(
            f"{where}: label '{seg}' has values {bad[:10]} outside {allowed_text} for the "
            f'{num_classes} classes. Fix: map the values to class indices (a palette-coloured '
            'label must be converted), or check num_classes / classes.')
    return problems, set(values)


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
    name = type(dataset).__name__
    where = f'{role} ({name})'
    problems = _split_problems(getattr(dataset, 'ann_file', ''), role)
    num_classes = len(dataset.metainfo.get('classes', ()))
    allowed, allowed_text = _allowed_values(dataset, num_classes)
    if bands is not None and not _keeps_bands(dataset):
        bands = None  # the loader converts every image to 3-channel colour
    training = role.startswith('train')
    images, seen_values, labels = [], set(), 0
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        img, seg = info.get('img_path'), info.get('seg_map_path')
        images.append(img)
        found, size = _image_problems(where, img, bands, cache)
        problems += found
        if size is None or not (check_labels and seg):
            continue
        found, values = _label_problems(where, seg, img, size, allowed, allowed_text,
                                        num_classes, training, cache)
        problems += found
        seen_values |= values
        labels += 1
    supervises = training and 'unlabeled' not in role
    if supervises and labels and not seen_values & _valid_values(dataset, num_classes):
        problems.append(
            f'{where}: none of its {labels} label maps has a valid label pixel (the '
            f'values are {sorted(seen_values)}, all ignored); training would get no '
            f"supervision. Fix: check the labels and the split "
            f"'{getattr(dataset, 'ann_file', '')}' (are these the right label files?).")
    return problems, images


def _valid_values(dataset, num_classes: int) -> set:
    """Label values that supervise (after reduce_zero_label)."""
    if getattr(dataset, 'reduce_zero_label', False):
        return set(range(1, num_classes + 1))
    return set(range(num_classes))


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
