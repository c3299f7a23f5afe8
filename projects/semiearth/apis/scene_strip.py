"""The logits of one row-strip of windows, summed where windows overlap and
averaged when no later window can touch a row, as mmseg's ``slide`` mode
averages (it sums window by window, left to right, and divides by the
count). Memory: ``classes x window x scene width`` float32."""
from typing import Tuple

import numpy as np
import torch

from .scene_io import CONF_NODATA, NODATA_OUT


class StripAccumulator:
    """Rows ``[y, y + rows)`` of the scene: summed logits, window counts and
    the nodata mask; :meth:`finish` hands the top rows out and shifts."""

    def __init__(self, num_classes: int, rows: int, width: int) -> None:
        self.acc = np.zeros((num_classes, rows, width), np.float32)
        self.count = np.zeros((rows, width), np.float32)
        self.invalid = np.zeros((rows, width), bool)

    def add(self, logits: np.ndarray, x: int) -> None:
        """(C, rows, w) logits of the window starting at column ``x``."""
        w = logits.shape[-1]
        self.acc[:, :, x:x + w] += logits
        self.count[:, x:x + w] += 1

    def set_valid(self, valid: np.ndarray, x: int) -> None:
        """(rows, w) validity of the input under the window at column ``x``."""
        self.invalid[:, x:x + valid.shape[1]] = ~valid

    def finish(self, done: int) -> Tuple[np.ndarray, np.ndarray]:
        """The top ``done`` rows as (uint8 class map, float32 max softmax),
        ``NODATA_OUT`` / ``CONF_NODATA`` where the input is nodata or no
        window ran; then the strip moves down by ``done`` rows."""
        seen = self.count[:done] > 0
        logits = torch.from_numpy(self.acc[:, :done] / np.maximum(self.count[:done], 1)[None])
        cls = logits.argmax(0).numpy().astype(np.uint8)
        conf = torch.softmax(logits, 0).amax(0).numpy().astype(np.float32)
        nodata = self.invalid[:done] | ~seen
        cls[nodata] = NODATA_OUT
        conf[nodata] = CONF_NODATA
        rows = self.count.shape[0]
        # shift the strip up in place (numpy copes with the overlap)
        self.acc[:, :rows - done] = self.acc[:, done:]
        self.acc[:, rows - done:] = 0
        self.count[:rows - done] = self.count[done:]
        self.count[rows - done:] = 0
        self.invalid[:rows - done] = self.invalid[done:]
        self.invalid[rows - done:] = False
        return cls, conf
