"""Raw label encodings -> class index maps (255 = ignore)."""
from typing import Dict, Sequence, Tuple

import numpy as np

IGNORE = 255


def decode_rgb_label(rgb: np.ndarray, colours: Dict[Tuple[int, int, int], int],
                     path: str) -> np.ndarray:
    """Map an RGB-coded label (H, W, 3, RGB order) to class indices.

    Each channel is binarised at 128 first: the released DeepGlobe masks (and
    a few ISPRS tiles) are not exactly pure colours, but every code of these
    datasets is a corner of the RGB cube. ``colours`` maps each corner that
    may occur to its index (``IGNORE`` included); any other corner means a
    wrong file and raises ``ValueError`` naming the file, colour and count.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"label '{path}' has shape {rgb.shape}; expected an "
                         'RGB-coded image (H, W, 3). Fix: use the RGB label '
                         'files of the release (not a palette or index image).')
    bits = (rgb >= 128).astype(np.uint8)
    code = bits[..., 0] * 4 + bits[..., 1] * 2 + bits[..., 2]
    lut = np.full(8, 254, np.uint8)  # 254: a colour that must not occur
    for (r, g, b), index in colours.items():
        lut[(r >= 128) * 4 + (g >= 128) * 2 + (b >= 128)] = index
    out = lut[code]
    if (out == 254).any():
        bad = np.unique(code[out == 254])
        counts = {tuple(int(c) * 255 for c in ((v >> 2) & 1, (v >> 1) & 1, v & 1)):
                  int((code == v).sum()) for v in bad}
        raise ValueError(f"label '{path}' has colours {counts} (colour: pixels) "
                         f'that are no class of this dataset (known: '
                         f'{sorted(colours)}). Fix: re-download the file; it is '
                         'not a label tile of this release.')
    return out


def decode_index_label(raw: np.ndarray, mapping: Sequence[int], path: str) -> np.ndarray:
    """Map an index-coded label through ``mapping`` (raw value -> index);
    values beyond ``mapping`` raise ``ValueError`` naming the file."""
    if raw.ndim != 2:
        raise ValueError(f"label '{path}' has shape {raw.shape}; expected a "
                         'single-channel index image.')
    lut = np.asarray(mapping, np.uint8)
    bad = np.unique(raw[raw >= len(lut)])
    if bad.size:
        raise ValueError(f"label '{path}' has values {bad.tolist()}; this dataset "
                         f'uses 0..{len(lut) - 1}. Fix: re-download the file.')
    return lut[raw]
