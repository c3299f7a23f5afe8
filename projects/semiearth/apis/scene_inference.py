"""Whole-scene inference: a multi-band GeoTIFF of any size in, a class-map
GeoTIFF with the same grid out, one window at a time.

The input must hold what the model was trained on: the same bands, in the
same order, with the same value range, because the model's data
preprocessor (mean/std) is applied to the file's values as they are. For
the NC Landsat configs that is the converter's six uint8 bands
10/20/30/40/50/70 (``python tools/quickstart.py --write-scene-input OUT.tif``
writes the embedded scene that way; docs/inference.md).

The model is :func:`~.plain_model.load_plain_model`'s (what export writes).
The pieces: :mod:`.scene_windows` (where the windows go),
:mod:`.scene_io` (GDAL's validity mask, float32 windows, the outputs),
:mod:`.window_predictor` (nodata filled with the normalisation mean, a
window predicted as ``tools/test.py`` predicts a tile) and
:mod:`.scene_strip` (overlapping logits averaged as mmseg's ``slide`` mode
does, one row-strip of windows in memory).
"""
import contextlib
import json
import os
import os.path as osp
import time
import warnings
from typing import Dict, Iterator, List, Optional, Union

import numpy as np
import torch
from mmengine.config import Config
from mmseg.models import EncoderDecoder

from .plain_model import load_plain_model
from .scene_io import (DEFAULT_GDAL_CACHE_MB, NODATA_OUT, SceneReader, SceneWriter,
                       gdal_cache, strip_cache_mb)
from .scene_strip import StripAccumulator
from .scene_windows import WindowPlan, plan_windows
from .window_predictor import band_means, fill_invalid, predict_windows


def init_scene_model(config: Union[str, Config], checkpoint: str,
                     which: Optional[str] = None, device: str = 'cpu',
                     cfg_options: Optional[dict] = None) -> EncoderDecoder:
    """The segmentor that predicts, with its checkpoint weights, in eval mode.

    A SemiEarth teacher-student config builds only the wrapped segmentor
    (no second copy, no purifier), normalising with the wrapper's data
    preprocessor as in training. A teacher-student checkpoint gives the
    model ``which`` names (default: the config's
    ``semi_test_cfg.predict_on``, the teacher: what ``tools/test.py``
    evaluated); a plain mmseg checkpoint loads as is (``which`` None).
    ``cfg_options``: config overrides (e.g. the test data root, where the
    scale factor is read; see :func:`~.scene_windows.test_scale_factor`).

    Returns:
        An ``EncoderDecoder`` with ``cfg``, ``dataset_meta`` (classes,
        palette), ``checkpoint`` and ``which`` (``'teacher'``,
        ``'student'`` or ``'single'``) set.
    """
    plain = load_plain_model(config, checkpoint, which=which, cfg_options=cfg_options)
    model = plain.segmentor
    num_classes = model.decode_head.num_classes
    palette = plain.dataset_meta.get('palette')
    if palette is None or len(palette) < num_classes:
        raise ValueError(f"'{checkpoint}': no palette for the {num_classes} classes (checkpoint "
                         'meta.dataset_meta or the test dataset class). Fix: give the config '
                         'the checkpoint was trained with, whose dataset defines one.')
    if num_classes > NODATA_OUT:
        raise ValueError(f'{num_classes} classes do not fit a uint8 map with {NODATA_OUT} '
                         'reserved for nodata.')
    model.dataset_meta = dict(classes=list(plain.dataset_meta['classes']), palette=palette)
    model.cfg = plain.cfg
    model.checkpoint = checkpoint
    model.which = plain.which
    return model.to(device)


def auto_threads() -> int:
    """Torch threads for a run: the cores not already busy (1-minute load
    average), at least 1, at most torch's default. On a busy machine the
    OpenMP threads of a convolution wait on each other, and one thread beat
    torch's default several-fold (tools/analysis_tools/benchmark_scene_threads.py)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    idle = int((cores or 1) - os.getloadavg()[0] + 0.5)
    return max(1, min(torch.get_num_threads(), idle))


@contextlib.contextmanager
def torch_threads(n: Optional[int]) -> Iterator[None]:
    """Run with ``n`` torch threads (None: as set), restored afterwards."""
    before = torch.get_num_threads()
    if n is not None:
        if n < 1:
            raise ValueError(f'threads {n}: must be >= 1')
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_input(model: EncoderDecoder, reader: SceneReader, name: str, out_path: str,
                 confidence_path: Optional[str]) -> None:
    if osp.abspath(out_path) == osp.abspath(name) or (
            confidence_path and osp.abspath(confidence_path) == osp.abspath(name)):
        raise ValueError(f"output '{out_path}' would overwrite the input. Fix: another path.")
    bands = len(band_means(model))
    if len(reader.bands) != bands:
        raise ValueError(
            f"'{name}' has {len(reader.bands)} band(s); the model of {model.cfg.filename} "
            f'takes {bands}, in the order and value range it was trained on. Fix: write a '
            f'GeoTIFF of those {bands} bands (for the NC Landsat configs: `python '
            'tools/quickstart.py --write-scene-input OUT.tif` writes the converter\'s six '
            'uint8 bands 10/20/30/40/50/70 of the embedded scene; see docs/inference.md).')
    dtype = reader.src.dtypes[reader.bands[0] - 1]
    if dtype != 'uint8':
        warnings.warn(f"'{name}' holds {dtype} values; the models here are trained on uint8 "
                      'bands (0..255) and the file is fed as it is. Make sure its values '
                      'are in the range the model was trained on.')
    if model.decode_head.num_classes < 2:
        raise ValueError(f'{model.cfg.filename}: a {model.decode_head.num_classes}-class '
                         '(sigmoid) head; scene inference writes an argmax over 2 or more '
                         'classes.')


class _Run:
    """One pass over the scene: windows read, predicted in batches, summed
    into the strip; finished rows written."""

    def __init__(self, model, reader, writer, plan: WindowPlan, batch_size: int, bar) -> None:
        self.model, self.reader, self.writer, self.plan = model, reader, writer, plan
        self.batch_size, self.bar = batch_size, bar
        self.fill = band_means(model)
        C = model.decode_head.num_classes
        self.strip = StripAccumulator(C, plan.wh, reader.src.width)
        self.class_px = np.zeros(C, np.int64)
        self.nodata_px = self.run = self.skipped = 0

    def _flush(self, batch: List[np.ndarray], where: List[int]) -> None:
        if batch:
            logits = predict_windows(self.model, batch, self.plan.scale_factor,
                                     self.plan.interpolation).numpy()
            for lg, x in zip(logits, where):
                self.strip.add(lg, x)
            self.run += len(batch)

    def row(self, k: int, y: int) -> None:
        """The windows of row ``k`` (top ``y``), then its finished rows."""
        p = self.plan
        batch, where = [], []
        for x in p.xs:
            arr, valid = self.reader.read(x, y, p.ww, p.wh)
            self.strip.set_valid(valid, x)
            if self.bar:
                self.bar.update()
            if not valid.any():  # no valid pixel would get anything from it
                self.skipped += 1
                continue
            batch.append(fill_invalid(arr, valid, self.fill))
            where.append(x)
            if len(batch) == self.batch_size:
                self._flush(batch, where)
                batch, where = [], []
        self._flush(batch, where)
        # rows above the next strip get nothing more: write and drop them
        done = (p.ys[k + 1] - y) if k + 1 < len(p.ys) else p.wh
        cls, conf = self.strip.finish(done)
        self.writer.write(y, cls, conf)
        ok = cls != NODATA_OUT
        self.class_px += np.bincount(cls[ok], minlength=len(self.class_px))[:len(self.class_px)]
        self.nodata_px += int((~ok).sum())


def _tags(model: EncoderDecoder, plan: WindowPlan, reader: SceneReader) -> Dict[str, str]:
    return dict(classes=json.dumps(model.dataset_meta['classes']),
                config=str(model.cfg.filename), checkpoint=str(model.checkpoint),
                model=model.which, window=str(plan.window), overlap=str(plan.overlap),
                scale_factor=str(plan.scale_factor), validity=reader.mask)


def inference_scene(model: EncoderDecoder, source, out_path: str, *,
                    window: Optional[int] = None, overlap: Optional[int] = None,
                    scale_factor: Optional[float] = None, batch_size: int = 8,
                    nodata: Optional[float] = None, confidence_path: Optional[str] = None,
                    gdal_cache_mb: Optional[float] = None, threads: Optional[int] = None,
                    progress: bool = True) -> Dict:
    """Map a multi-band GeoTIFF to a uint8 class-map GeoTIFF, window by window.

    Args:
        model: from :func:`init_scene_model`.
        source: the input raster's path, or an open rasterio dataset (its
            grid, ``count``, ``dtypes``, ``nodatavals``, ``colorinterp``,
            ``read(indexes, window=..., out_dtype=...)`` and
            ``dataset_mask(window=...)`` are used).
        out_path: the class map: one uint8 band, the input's CRS and
            transform, the dataset palette as colour table, ``255`` where
            the input is nodata (GeoTIFF nodata 255); class names in the
            ``classes`` tag.
        window: window side in input pixels. Default: the model's crop
            (slide-mode ``crop_size``, else the training crop size) divided
            by the scale factor (32 px for the NC Landsat configs).
        overlap: pixels shared by neighbouring windows (``0 <= overlap <
            window``). Default: the slide-mode crop minus stride (scaled),
            else a quarter of the window.
        scale_factor: how much a window is enlarged before the model sees
            it. Default: :func:`~.scene_windows.test_scale_factor`.
        batch_size: windows per forward pass.
        nodata: a value marking nodata in every band instead of the file's
            mask (a pixel is nodata where every band equals it). Default:
            GDAL's dataset mask (mask band, alpha, per-band nodata).
        confidence_path: if given, also write the averaged softmax's
            maximum there (float32, same grid, nodata 0).
        gdal_cache_mb: GDAL's block cache in MB. Default: enough for two
            row-strips of the file's blocks, at least 64 MB.
        threads: torch threads for the run (None: as set).
        progress: show a progress bar over the windows.

    Returns:
        A summary: paths, size, window, overlap, scale factor, windows run,
        validity rule, nodata pixels, pixels per class, seconds.
    """
    import rasterio
    t0 = time.time()
    own = isinstance(source, (str, os.PathLike))
    if own and not osp.isfile(source):
        raise FileNotFoundError(f"input scene '{source}' does not exist.")
    if batch_size < 1:
        raise ValueError(f'batch_size {batch_size} must be >= 1')
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(rasterio.open(source)) if own else source
        reader = SceneReader(src, nodata)
        name = getattr(src, 'name', str(source))
        _check_input(model, reader, name, out_path, confidence_path)
        plan = plan_windows(model, src.height, src.width, window, overlap, scale_factor)
        cache = gdal_cache_mb or max(DEFAULT_GDAL_CACHE_MB, 2 * strip_cache_mb(src, plan.wh))
        stack.enter_context(gdal_cache(cache))
        stack.enter_context(torch_threads(threads))
        run = _run(model, reader, plan, out_path, confidence_path, batch_size, progress)
    return dict(input=name, output=out_path, confidence=confidence_path, height=src.height,
                width=src.width, window=plan.window, overlap=plan.overlap,
                scale_factor=plan.scale_factor, scale_factor_from=plan.scale_factor_from,
                windows=len(plan.ys) * len(plan.xs), windows_run=run.run,
                windows_all_nodata=run.skipped, nodata=reader.nodata, validity=reader.mask,
                nodata_pixels=run.nodata_px, gdal_cache_mb=round(cache, 1),
                threads=torch.get_num_threads() if threads is None else threads,
                class_pixels=dict(zip(model.dataset_meta['classes'], run.class_px.tolist())),
                model=model.which, seconds=round(time.time() - t0, 2))


def _run(model, reader: SceneReader, plan: WindowPlan, out_path: str,
         confidence_path: Optional[str], batch_size: int, progress: bool) -> _Run:
    """Every row of windows; the outputs published only when all succeeded."""
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(plan.ys) * len(plan.xs))
    writer = SceneWriter(reader.src, out_path, confidence_path)
    run = _Run(model, reader, writer, plan, batch_size, bar)
    try:
        for k, y in enumerate(plan.ys):
            run.row(k, y)
        writer.close(_tags(model, plan, reader), model.dataset_meta['palette'])
    except BaseException:
        writer.abort()
        raise
    if bar:
        print(flush=True)
    return run
