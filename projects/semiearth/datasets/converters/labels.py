"""Raw label encodings -> class index maps (255 = ignore)."""
from typing import Dict, Sequence, Tuple

import numpy as np

IGNORE = 255
Colour = Tuple[int, int, int]

# ISPRS 2D labelling (Potsdam, Vaihingen): the label colours in class order,
# then clutter / background, then the black boundary of the eroded
# ("noBoundary") releases.
ISPRS_COLOURS: Tuple[Colour, ...] = (
    (255, 255, 255),  # impervious surfaces
    (0, 0, 255),      # building
    (0, 255, 255),    # low vegetation
    (0, 255, 0),      # tree
    (255, 255, 0),    # car
)
ISPRS_CLUTTER: Colour = (255, 0, 0)
BLACK: Colour = (0, 0, 0)


def isprs_colours(with_clutter: bool) -> Dict[Colour, int]:
    """ISPRS colour -> index: the five classes, clutter as class 5 (mmseg's
    ISPRSDataset) or ignore (the DWL protocol), black boundary -> ignore."""
    colours = {c: i for i, c in enumerate(ISPRS_COLOURS)}
    colours[ISPRS_CLUTTER] = len(ISPRS_COLOURS) if with_clutter else IGNORE
    colours[BLACK] = IGNORE
    return colours


def _corner(colour: Colour) -> int:
    r, g, b = (int(v >= 128) for v in colour)
    return r * 4 + g * 2 + b


def decode_rgb_label(rgb: np.ndarray, colours: Dict[Colour, int],
                     path: str) -> np.ndarray:
    """Map an RGB-coded label (H, W, 3, RGB order) to class indices.

    Each channel is binarised at 128 first. The DeepGlobe release notes say
    its mask values "may not be pure 0 and 255" and ask users to binarise at
    128; ISPRS labels are decoded the same way, so a stray off-level pixel
    does not stop a conversion. As every code of these datasets is a corner
    of the RGB cube, thresholding recovers the intended colour without a
    nearest-colour search and cannot invent a class.
    ``colours`` maps each corner that may occur to its index (``IGNORE``
    included); any other corner (e.g. magenta in an ISPRS file) means a wrong
    file and raises ``ValueError`` naming the file, colour and pixel count.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"label '{path}' has shape {rgb.shape}; expected an "
                         'RGB-coded image (H, W, 3). Fix: use the RGB label '
                         'files of the release (not a palette, index or RGBA image).')
    for c in colours:
        if c != tuple(255 * (v >= 128) for v in c):
            raise ValueError(f'colour table entry {c} is not a corner of the RGB cube')
    bits = (rgb >= 128).astype(np.uint8)
    code = bits[..., 0] * 4 + bits[..., 1] * 2 + bits[..., 2]
    lut = np.full(8, 254, np.uint8)  # 254: a colour that must not occur
    for colour, index in colours.items():
        lut[_corner(colour)] = index
    out = lut[code]
    if (out == 254).any():
        counts = np.bincount(code[out == 254].ravel(), minlength=8)
        found = {tuple(255 * ((v >> s) & 1) for s in (2, 1, 0)): int(counts[v])
                 for v in np.flatnonzero(counts).tolist()}
        raise ValueError(f"label '{path}' has colours {found} (colour: pixels, "
                         'after binarising each channel at 128) that are no class of '
                         f'this dataset (known: {sorted(colours)}). Fix: re-download '
                         'the file; it is not a label tile of this release.')
    return out


def decode_index_label(raw: np.ndarray, mapping: Sequence[int], path: str) -> np.ndarray:
    """Map an index-coded label through ``mapping`` (raw value -> index);
    values beyond ``mapping`` raise ``ValueError`` naming the file."""
    if raw.ndim != 2:
        raise ValueError(f"label '{path}' has shape {raw.shape}; expected a "
                         'single-channel index image (H, W). Fix: use the mask '
                         'files of the release.')
    if raw.dtype != np.uint8:
        raise ValueError(f"label '{path}' is {raw.dtype}; expected 8-bit class values.")
    lut = np.asarray(mapping, np.uint8)
    bad = np.unique(raw[raw >= len(lut)])
    if bad.size:
        raise ValueError(f"label '{path}' has values {bad.tolist()}; this dataset "
                         f'uses 0..{len(lut) - 1}. Fix: re-download the file.')
    return lut[raw]


def colour_code(colours: Dict[Colour, int]) -> Dict[str, int]:
    """A colour table as JSON-able ``{'R,G,B': index}`` (for meta.json)."""
    return {','.join(map(str, c)): int(i) for c, i in sorted(colours.items())}


def index_code(mapping: Sequence[int]) -> Dict[str, int]:
    """An index mapping as JSON-able ``{'raw value': index}``."""
    return {str(v): int(i) for v, i in enumerate(mapping)}
