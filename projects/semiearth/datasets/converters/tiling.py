"""Cut tiles into non-overlapping, zero-padded crops, once."""
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Sequence, Tuple

import cv2
import mmengine
import numpy as np

from .labels import IGNORE

Tile = Tuple[str, str, str]  # (tile name, image path, label path)


def crop_grid(img: np.ndarray, label: np.ndarray, crop: int):
    """Yield ``(row, col, img_crop, label_crop)`` over the tile zero-padded
    (label: ``IGNORE``) to a multiple of ``crop`` on each side."""
    h, w = label.shape
    ph, pw = -h % crop, -w % crop
    img = np.pad(img, ((0, ph), (0, pw), (0, 0)), constant_values=0)
    label = np.pad(label, ((0, ph), (0, pw)), constant_values=IGNORE)
    for r in range(img.shape[0] // crop):
        for c in range(img.shape[1] // crop):
            ys, xs = slice(r * crop, (r + 1) * crop), slice(c * crop, (c + 1) * crop)
            yield r, c, img[ys, xs], label[ys, xs]


def read_image(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)  # BGR, as mmseg loads PNGs
    if img is None:
        raise OSError(f"cannot read image '{path}'. Fix: re-download it.")
    return img


def read_rgb(path: str) -> np.ndarray:
    """A label file as stored: (H, W) index or (H, W, 3) in RGB order."""
    raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise OSError(f"cannot read label '{path}'. Fix: re-download it.")
    return raw[..., ::-1] if raw.ndim == 3 and raw.shape[2] == 3 else raw


def convert_tiles(tiles: Sequence[Tile], out: str, crop: int,
                  decode: Callable[[np.ndarray, str], np.ndarray],
                  num_classes: int, force: bool = False) -> Tuple[List[str], Dict]:
    """Write ``img_dir/<tile>_<row>_<col>.png`` and ``ann_dir/...png`` for
    every tile; a tile whose crops all exist is skipped (a re-run after an
    interruption goes on where it stopped) unless ``force``. ``decode`` maps
    the raw label (as :func:`read_rgb` returns it) to class indices.
    Returns the crop names and the class pixel counts of all crops."""
    for sub in ('img_dir', 'ann_dir'):
        os.makedirs(osp.join(out, sub), exist_ok=True)
    names, pixels = [], np.zeros(num_classes + 1, np.int64)  # last: ignore
    for tile, img_path, label_path in mmengine.track_iter_progress(list(tiles)):
        done = osp.join(out, 'ann_dir', f'.{tile}.done')
        if osp.exists(done) and not force:
            with open(done) as f:
                record = json.load(f)
            names += record['crops']
            pixels += np.asarray(record['pixels'])
            continue
        img, label = read_image(img_path), decode(read_rgb(label_path), label_path)
        if img.shape[:2] != label.shape:
            raise ValueError(f"label '{label_path}' is {label.shape[1]} x {label.shape[0]} "
                             f"but its image '{img_path}' is {img.shape[1]} x "
                             f'{img.shape[0]}. Fix: re-download the pair.')
        crops, counts = [], np.zeros_like(pixels)
        for r, c, img_crop, label_crop in crop_grid(img, label, crop):
            name = f'{tile}_{r}_{c}'
            cv2.imwrite(osp.join(out, 'img_dir', name + '.png'), img_crop)
            cv2.imwrite(osp.join(out, 'ann_dir', name + '.png'), label_crop)
            counts += np.bincount(np.minimum(label_crop, num_classes).ravel(),
                                  minlength=num_classes + 1)
            crops.append(name)
        with open(done, 'w') as f:  # written last: the tile is complete
            json.dump(dict(crops=crops, pixels=counts.tolist()), f)
        names += crops
        pixels += counts
    return names, dict(pixels=pixels[:num_classes].tolist(), ignore=int(pixels[-1]))


def up_to_date(out: str, args: dict) -> bool:
    """True when ``out/meta.json`` records a finished run with ``args``."""
    meta = osp.join(out, 'meta.json')
    if not osp.exists(meta):
        return False
    with open(meta) as f:
        return json.load(f).get('args') == args
