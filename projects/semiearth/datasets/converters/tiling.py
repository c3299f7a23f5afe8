"""Cut tiles into non-overlapping, zero-padded crops, once.

Per tile, ``<out>/.progress/<tile>.json`` is written after its crops and
records what they were made from (source files, crop size, label code) plus
their names and class pixel counts. A tile whose record matches and whose
crops all exist is skipped on a re-run, so an interrupted conversion goes on
where it stopped, and a run with other settings redoes exactly the tiles they
change.
"""
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Sequence, Tuple

import cv2
import mmengine
import numpy as np

from ...utils.atomic import atomic_write_text
from .labels import IGNORE
from .raw_files import read_image, read_label

Tile = Tuple[str, str, str]  # (tile name, image path, label path)
PROGRESS = '.progress'


def crop_grid(img: np.ndarray, label: np.ndarray, crop: int):
    """Yield ``(row, col, img_crop, label_crop)`` over the tile zero-padded
    at the bottom and right (label: ``IGNORE``) to a multiple of ``crop``."""
    h, w = label.shape
    ph, pw = -h % crop, -w % crop
    img = np.pad(img, ((0, ph), (0, pw), (0, 0)), constant_values=0)
    label = np.pad(label, ((0, ph), (0, pw)), constant_values=IGNORE)
    for r in range(img.shape[0] // crop):
        for c in range(img.shape[1] // crop):
            ys, xs = slice(r * crop, (r + 1) * crop), slice(c * crop, (c + 1) * crop)
            yield r, c, img[ys, xs], label[ys, xs]


def _write(path: str, array: np.ndarray) -> None:
    if not cv2.imwrite(path, array):
        raise OSError(f"cannot write '{path}' (disk full or not writable?)")


def _load(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _remove_crops(out: str, names: Sequence[str]) -> None:
    for name in names:
        for sub in ('img_dir', 'ann_dir'):
            path = osp.join(out, sub, name + '.png')
            if osp.exists(path):
                os.remove(path)


def convert_tiles(tiles: Sequence[Tile], out: str, crop: int,
                  decode: Callable[[np.ndarray, str], np.ndarray],
                  num_classes: int, label_code=None,
                  force: bool = False) -> Tuple[Dict[str, List[str]], Dict[str, List[int]]]:
    """Write ``img_dir/<tile>_<row>_<col>.png`` (the image as read, BGR on
    disk as mmcv writes it) and ``ann_dir/<tile>_<row>_<col>.png`` (class
    index, 255 = ignore) for every tile, with a progress bar. ``decode(raw,
    path)`` maps the raw label (as :func:`read_label` returns it) to class
    indices; ``label_code`` (JSON-able) describes that mapping so that a
    changed mapping redoes the tiles. Tiles already done with the same
    settings are skipped unless ``force``; crops of tiles no longer converted
    are removed.

    Returns ``({tile: [crop names]}, {crop: [pixels of class 0..n-1, ignore]})``.
    """
    for sub in ('img_dir', 'ann_dir', PROGRESS):
        os.makedirs(osp.join(out, sub), exist_ok=True)
    crops_of, pixels = {}, {}
    for tile, img_path, label_path in mmengine.track_iter_progress(list(tiles)):
        marker = osp.join(out, PROGRESS, tile + '.json')
        key = dict(crop=crop, image=osp.abspath(img_path), label=osp.abspath(label_path),
                   label_code=label_code, num_classes=num_classes)
        record = _load(marker)
        if (record and not force and record.get('key') == key and all(
                osp.exists(osp.join(out, sub, n + '.png'))
                for n in record['crops'] for sub in ('img_dir', 'ann_dir'))):
            crops_of[tile] = record['crops']
            pixels.update(record['pixels'])
            continue
        if osp.exists(marker):
            os.remove(marker)  # the tile is not done until its marker is back
        if record:
            _remove_crops(out, record.get('crops', []))
        img, raw = read_image(img_path), read_label(label_path)
        label = decode(raw, label_path)
        if img.shape[:2] != label.shape:
            raise ValueError(f"label '{label_path}' is {label.shape[1]} x {label.shape[0]} "
                             f"(W x H) but its image '{img_path}' is {img.shape[1]} x "
                             f'{img.shape[0]}. Fix: re-download the pair.')
        names, counts = [], {}
        for r, c, img_crop, label_crop in crop_grid(img, label, crop):
            name = f'{tile}_{r}_{c}'
            _write(osp.join(out, 'img_dir', name + '.png'), img_crop)
            _write(osp.join(out, 'ann_dir', name + '.png'), label_crop)
            hist = np.bincount(np.minimum(label_crop, num_classes).ravel(),
                               minlength=num_classes + 1)
            counts[name] = hist.tolist()
            names.append(name)
        # written last: the tile is complete
        atomic_write_text(marker, json.dumps(dict(key=key, crops=names, pixels=counts)))
        crops_of[tile] = names
        pixels.update(counts)
    # crops of tiles converted before but not now (another subset, say)
    for name in sorted(os.listdir(osp.join(out, PROGRESS))):
        tile = name[:-len('.json')]
        if name.endswith('.json') and tile not in crops_of:
            record = _load(osp.join(out, PROGRESS, name)) or {}
            _remove_crops(out, record.get('crops', []))
            os.remove(osp.join(out, PROGRESS, name))
    return crops_of, pixels


def class_pixels(crops: Sequence[str], pixels: Dict[str, List[int]],
                 classes: Sequence[str]) -> Dict[str, int]:
    """``{class: pixels, ..., 'ignore': pixels}`` summed over ``crops``."""
    total = np.zeros(len(classes) + 1, np.int64)
    for name in crops:
        total += np.asarray(pixels[name], np.int64)
    return dict(zip(list(classes) + ['ignore'], total.tolist()))
