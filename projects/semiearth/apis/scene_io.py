"""Reading a scene the way GDAL means it, and writing its class map.

Validity is GDAL's dataset mask (rasterio's ``dataset_mask()``): an internal
or external mask band, else an alpha band, else the per-band nodata values,
where a pixel is nodata only when *every* band holds its nodata value (a
valid pixel saturated in one band stays valid). Alpha bands are not data:
they are left out of what the model sees, and an alpha of 0 is nodata in
any file (GDAL itself masks by alpha only in 2- and 4-band files). Windows are read as float32, so a
scene gives the model the same numbers whatever its dtype and nodata
encoding.

The outputs are written under private temporary names
(:func:`semiearth.utils.partial_path`) and renamed when complete: a reader
never sees a half-written map.
"""
import contextlib
import math
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..utils import partial_path

NODATA_OUT = 255  # class-map value where the input is nodata
CONF_NODATA = 0.0  # a max-softmax is >= 1/num_classes, so 0 cannot be a confidence
DEFAULT_GDAL_CACHE_MB = 64


@contextlib.contextmanager
def gdal_cache(cache_mb: float) -> Iterator[None]:
    """GDAL's raster block cache bounded to ``cache_mb`` MB inside the block
    (GDAL's own default is 5% of the machine's memory)."""
    import rasterio
    if cache_mb <= 0:
        raise ValueError(f'gdal cache {cache_mb} MB: must be > 0')
    with rasterio.Env(GDAL_CACHEMAX=int(cache_mb * 2**20)):
        yield


def strip_cache_mb(src, window_rows: int) -> float:
    """MB of the source's blocks one row of windows touches (block rows
    rounded up, all bands, scene width): a cache smaller than two such strips
    makes GDAL decode the same blocks again for every window of a row."""
    block_h = max(h for h, _ in src.block_shapes) if getattr(src, 'block_shapes', None) \
        else window_rows
    rows = (math.ceil(window_rows / block_h) + 1) * block_h
    itemsize = max(np.dtype(d).itemsize for d in src.dtypes)
    return rows * src.width * src.count * itemsize / 2**20


class SceneReader:
    """Windows of an open rasterio dataset as (float32 data bands, validity).

    ``nodata``: a value that marks nodata in every band instead of the
    file's mask (a pixel is nodata where every data band equals it; NaN
    matches NaN)."""

    def __init__(self, src, nodata: Optional[float] = None) -> None:
        from rasterio.enums import ColorInterp
        self.src = src
        interp = list(getattr(src, 'colorinterp', None) or [None] * src.count)
        self.bands = [i for i, c in enumerate(interp, 1) if c != ColorInterp.alpha]
        # GDAL takes an alpha band as the mask only in 2- and 4-band files
        self.alpha = [i for i, c in enumerate(interp, 1) if c == ColorInterp.alpha]
        self.override = nodata
        self.nodata = self._nodata_values()
        self.mask = self._describe(interp)

    def _nodata_values(self) -> Optional[List[float]]:
        if self.override is not None:
            return [float(self.override)] * len(self.bands)
        values = [self.src.nodatavals[i - 1] for i in self.bands]
        return None if all(v is None for v in values) else \
            [None if v is None else float(v) for v in values]

    def _describe(self, interp: Sequence) -> str:
        from rasterio.enums import ColorInterp, MaskFlags
        if self.override is not None:
            return f'nodata {self.override:g} given: nodata where every band equals it'
        flags = {f for band in (getattr(self.src, 'mask_flag_enums', None) or [])
                 for f in band}
        if ColorInterp.alpha in interp:
            return 'alpha band'
        if MaskFlags.per_dataset in flags:
            return 'mask band'
        if MaskFlags.nodata in flags:
            return f'per-band nodata {self.nodata}: nodata where every band holds it'
        return 'none: every pixel valid'

    def read(self, x: int, y: int, w: int, h: int) -> Tuple[np.ndarray, np.ndarray]:
        """(len(bands), h, w) float32 values and (h, w) bool validity."""
        from rasterio.windows import Window
        win = Window(x, y, w, h)
        arr = self.src.read(self.bands, window=win, out_dtype='float32')
        if self.override is None:
            valid = self.src.dataset_mask(window=win) > 0
            if self.alpha:
                valid &= (self.src.read(self.alpha, window=win) > 0).all(0)
        else:
            v = self.override
            bad = np.isnan(arr) if math.isnan(v) else arr == np.float32(v)
            valid = ~bad.all(0)
        return arr, valid


def colormap(palette: Sequence[Sequence[int]]) -> Dict[int, Tuple[int, int, int, int]]:
    """A GeoTIFF colour table: the palette, unused values and nodata transparent."""
    cmap = {i: (0, 0, 0, 0) for i in range(256)}
    for i, (r, g, b) in enumerate(palette):
        cmap[i] = (int(r), int(g), int(b), 255)
    return cmap


class SceneWriter:
    """The class map (and optionally the confidence) on the source's grid,
    written row-strip by row-strip under temporary names, renamed by
    :meth:`close`, removed by :meth:`abort`."""

    def __init__(self, src, out_path: str, confidence_path: Optional[str] = None) -> None:
        import rasterio
        self.paths = [p for p in (out_path, confidence_path) if p]
        for p in self.paths:
            os.makedirs(osp.dirname(osp.abspath(p)), exist_ok=True)
        self.tmp = [partial_path(p) for p in self.paths]
        profile = dict(driver='GTiff', height=src.height, width=src.width, count=1,
                       dtype='uint8', crs=src.crs, transform=src.transform, nodata=NODATA_OUT,
                       compress='deflate', BIGTIFF='IF_SAFER')
        self.files = [rasterio.open(self.tmp[0], 'w', **profile)]
        if confidence_path:
            self.files.append(rasterio.open(self.tmp[1], 'w', **dict(
                profile, dtype='float32', nodata=CONF_NODATA, predictor=3)))

    def write(self, y: int, cls: np.ndarray, conf: np.ndarray) -> None:
        """Rows ``y .. y + len(cls)`` of the map (and confidence)."""
        from rasterio.windows import Window
        win = Window(0, y, cls.shape[1], cls.shape[0])
        for f, rows in zip(self.files, (cls, conf)):
            f.write(rows[None], window=win)

    def close(self, tags: Dict[str, str], palette: Sequence[Sequence[int]]) -> None:
        """Tag, colour and publish the files."""
        self.files[0].set_band_description(1, 'class')
        self.files[0].write_colormap(1, colormap(palette))
        if len(self.files) > 1:
            self.files[1].set_band_description(1, 'confidence (max softmax)')
        for f in self.files:
            f.update_tags(**tags)
            f.close()
        for tmp, path in zip(self.tmp, self.paths):
            os.replace(tmp, path)

    def abort(self) -> None:
        """Close and remove the temporary files (a half map would read as class 0)."""
        for f, tmp in zip(self.files, self.tmp):
            f.close()
            if osp.exists(tmp):
                os.remove(tmp)
