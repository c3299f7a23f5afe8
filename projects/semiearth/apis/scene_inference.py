"""Whole-scene inference: a multi-band GeoTIFF of any size in, a class-map
GeoTIFF with the same grid out, one window at a time.

The input must hold what the model was trained on: the same bands, in the
same order, with the same value range, because the model's data
preprocessor (mean/std) is applied to the file's values as they are. For
the NC Landsat configs that is the converter's six uint8 bands
10/20/30/40/50/70 (each stretched between its 2nd and 98th percentile to
1..255, nodata 0): ``python tools/quickstart.py --write-scene-input OUT.tif``
writes the embedded scene that way (docs/inference.md).

How a window is predicted is how ``tools/test.py`` predicts a test tile:
the window is resized by the factor the config's test pipeline resizes a
tile by (4 for the NC Landsat configs: 32-px tiles to 128 px), normalised
by the model's data preprocessor, passed through the segmentor, and its
logits resized back. Overlapping windows' logits are averaged as mmseg's
``slide`` mode does; at scale factor 1 the result is mmseg's slide
inference with ``crop_size=window`` and ``stride=window - overlap``.

Memory: the file is read window by window (rasterio windows), and logits are
kept only for the current row-strip of windows (``classes x window x scene
width`` floats); finished rows are written as soon as no later window can
touch them.
"""
import copy
import json
import math
import os
import os.path as osp
import re
import time
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.models import EncoderDecoder
from mmseg.models.utils import resize
from mmseg.registry import DATASETS, MODELS, TRANSFORMS

from .vlm_tools import model_data_preprocessor

NODATA_OUT = 255  # class-map value where the input is nodata
CONF_NODATA = 0.0  # a max-softmax is >= 1/num_classes, so 0 cannot be a confidence
SEMI_PREFIXES = ('teacher', 'student')


# ------------------------------------------------------------------ model
def _load_state_dict(checkpoint: str) -> Tuple[dict, dict]:
    from mmengine.runner.checkpoint import _load_checkpoint
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f"checkpoint '{checkpoint}' does not exist. Fix: give the "
                                '.pth file written by tools/train.py (best_*.pth).')
    ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint '{checkpoint}' holds no state dict. Fix: give a "
                         'checkpoint written by tools/train.py.')
    state = {re.sub(r'^module\.', '', k): v for k, v in state.items()}
    meta = ckpt.get('meta') or {}
    return state, meta


def init_scene_model(config: Union[str, Config], checkpoint: str,
                     which: Optional[str] = None, device: str = 'cpu',
                     cfg_options: Optional[dict] = None) -> EncoderDecoder:
    """The segmentor that predicts, with its checkpoint weights, in eval mode.

    A SemiEarth teacher-student config (``SemiEarthSegmentor``) builds only
    the wrapped segmentor (no second copy, no VLM purifier: neither takes
    part in prediction), normalising with the wrapper's data preprocessor
    as in training. A checkpoint with ``teacher.*`` / ``student.*`` weights
    (SemiEarth/FixMatch) gives the one ``which`` names; by default the one
    the config's ``semi_test_cfg.predict_on`` names (the teacher), which is
    what ``tools/test.py`` evaluated. A plain mmseg checkpoint loads as is.

    Args:
        config: config file or object.
        checkpoint: ``.pth`` file.
        which: ``'teacher'`` or ``'student'`` for a teacher-student
            checkpoint; ``None`` for the config's choice.
        device: torch device.
        cfg_options: config overrides (e.g. the test data root, which the
            scale factor is read from; see :func:`test_scale_factor`).

    Returns:
        An ``EncoderDecoder`` with ``cfg`` (the config), ``dataset_meta``
        (classes, palette), ``checkpoint`` and ``which`` (``'teacher'``,
        ``'student'`` or ``'single'``) set.
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    name = cfg.filename or '<config>'
    if which not in (None, ) + SEMI_PREFIXES:
        raise ValueError(f"which={which!r}: use 'teacher', 'student' or None")
    semi = 'segmentor' in cfg.model
    if semi:
        seg_cfg = copy.deepcopy(cfg.model.segmentor)
        dp = dict(model_data_preprocessor(cfg))
        if dp.get('type') == 'SemiSegDataPreProcessor':
            dp['type'] = 'SegDataPreProcessor'  # the same outside training
        seg_cfg.data_preprocessor = dp
        default = (cfg.model.get('semi_test_cfg') or {}).get('predict_on', 'teacher')
    else:
        seg_cfg = copy.deepcopy(cfg.model)
        default = None
    seg_cls = MODELS.get(seg_cfg.get('type')) if isinstance(seg_cfg.get('type'), str) else None
    if seg_cls is None or not issubclass(seg_cls, EncoderDecoder):
        raise TypeError(f"{name}: the model is {seg_cfg.get('type')!r}; scene inference "
                        'needs an mmseg EncoderDecoder (or a SemiEarthSegmentor wrapping one).')
    # the checkpoint brings every weight: no pretrained file is read or downloaded
    if isinstance(seg_cfg.get('backbone'), dict) and 'init_cfg' in seg_cfg.backbone:
        seg_cfg.backbone.init_cfg = None
    seg_cfg.pop('init_cfg', None)
    seg_cfg.pretrained = None
    seg_cfg.train_cfg = None
    model: EncoderDecoder = MODELS.build(seg_cfg)

    state, meta = _load_state_dict(checkpoint)
    is_semi_ckpt = any(k.startswith(tuple(p + '.' for p in SEMI_PREFIXES)) for k in state)
    if is_semi_ckpt:
        chosen = which or default or 'teacher'
        prefix = chosen + '.'
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not state:
            other = 'student' if chosen == 'teacher' else 'teacher'
            raise ValueError(f"checkpoint '{checkpoint}' has no {chosen} weights "
                             f'({prefix}*). Fix: --model {other}.')
    else:
        if which is not None:
            raise ValueError(
                f"checkpoint '{checkpoint}' holds a single model (no teacher.*/student.* "
                f"weights), so which={which!r} does not apply. Fix: leave --model out.")
        chosen = 'single'
    fix = 'Fix: give the config the checkpoint was trained with.'
    own = model.state_dict()
    wrong = [f'{k} {tuple(v.shape)} (model {tuple(own[k].shape)})' for k, v in state.items()
             if k in own and torch.is_tensor(v) and v.shape != own[k].shape]
    if wrong:
        raise ValueError(f"checkpoint '{checkpoint}' does not fit the model of {name}: "
                         f'{len(wrong)} weights differ in shape, e.g. {wrong[:2]}. {fix}')
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"checkpoint '{checkpoint}' does not fit the model of {name}: "
            f'{len(missing)} missing weights (e.g. {missing[:3]}), {len(unexpected)} '
            f'unexpected (e.g. {unexpected[:3]}). {fix}')
    model.dataset_meta = _dataset_meta(cfg, meta, checkpoint, model.decode_head.num_classes)
    model.cfg = cfg
    model.checkpoint = checkpoint
    model.which = chosen
    model.to(device)
    model.eval()
    return model


def _dataset_meta(cfg: Config, meta: dict, checkpoint: str, num_classes: int) -> dict:
    """Classes and palette: the checkpoint's, else the config's dataset class."""
    dm = meta.get('dataset_meta')
    where = f"checkpoint '{checkpoint}'"
    if not dm or 'classes' not in dm or 'palette' not in dm:
        ds_type = cfg.get('test_dataloader', {}).get('dataset', {}).get('type')
        ds_cls = DATASETS.get(ds_type) if isinstance(ds_type, str) else None
        dm = getattr(ds_cls, 'METAINFO', None) or {}
        where = f'dataset class {ds_type!r} of {cfg.filename}'
        if 'classes' not in dm or 'palette' not in dm:
            raise ValueError(
                f"checkpoint '{checkpoint}' has no dataset_meta and the config's test "
                f'dataset ({ds_type!r}) no METAINFO with classes and palette. Fix: use a '
                'checkpoint written by tools/train.py, or a config whose test dataset '
                'class defines them.')
    classes, palette = list(dm['classes']), [list(map(int, p)) for p in dm['palette']]
    if len(classes) != num_classes or len(palette) < num_classes:
        raise ValueError(f'{where}: {len(classes)} classes and {len(palette)} palette '
                         f'colours for a model with {num_classes} classes. Fix: give the '
                         'config the checkpoint was trained with.')
    if num_classes > NODATA_OUT:
        raise ValueError(f'{num_classes} classes do not fit a uint8 map with {NODATA_OUT} '
                         'reserved for nodata.')
    return dict(classes=classes, palette=palette[:num_classes])


def _test_resize_cfg(cfg: Config) -> Optional[dict]:
    """The test pipeline's only resizing step (None if it has none)."""
    pipeline = cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline') or \
        cfg.get('test_pipeline') or []
    resizes = [t for t in pipeline if 'Resize' in t['type'] or 'Rescale' in t['type']]
    if len(resizes) > 1 or (resizes and resizes[0]['type'] != 'Resize'):
        raise ValueError(
            f"{cfg.filename}: the test pipeline resizes with "
            f"{[t['type'] for t in resizes]}; only one 'Resize' is understood. Fix: "
            'pass the factor the model expects (--scale-factor S).')
    return dict(resizes[0]) if resizes else None


def test_scale_factor(cfg: Config) -> Tuple[float, str]:
    """The factor the config's test pipeline resizes an input image by, and
    how it was found.

    Without a ``Resize`` in the test pipeline it is 1. A ``Resize`` to a
    fixed ``scale`` depends on the image size, so it is applied to the first
    test image of the config's test dataset (which must be on disk); for the
    NC Landsat configs that turns a 32-px tile into 128 px: 4.
    """
    resize_cfg = _test_resize_cfg(cfg)
    if resize_cfg is None:
        return 1.0, 'the test pipeline does not resize'
    fix = ('Fix: convert the dataset (or point test_dataloader.dataset.data_root at it '
           'with --cfg-options), or pass --scale-factor S (4 for the NC Landsat configs: '
           '32-px tiles are resized to 128 px).')
    ds_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    # read the image as the test pipeline reads it (a tifffile H x W x C tile
    # is not what GDAL makes of the same file)
    ds_cfg.pipeline = [t for t in ds_cfg.pipeline
                       if 'Load' in t['type'] and t['type'] != 'LoadAnnotations']
    try:
        dataset = DATASETS.build(ds_cfg)
        img_path = dataset.get_data_info(0)['img_path']
        h, w, c = np.atleast_3d(dataset[0]['img']).shape
    except Exception as e:  # a missing split file, folder or image, in many error types
        raise FileNotFoundError(
            f'{cfg.filename}: cannot read a test image to find how much the test pipeline '
            f"resizes (data_root '{ds_cfg.get('data_root')}': {e}). {fix}") from e
    transform = TRANSFORMS.build(resize_cfg)
    out = transform(dict(img=np.zeros((h, w, c), np.uint8)))
    sx, sy = out['scale_factor']
    if abs(sx - sy) > 1e-6:
        raise ValueError(f'{cfg.filename}: the test pipeline resizes {img_path} ({w}x{h}) '
                         f'by {sx:.4f} x {sy:.4f}, not uniformly. {fix}')
    return float(sx), (f"test pipeline {resize_cfg['type']}(scale={resize_cfg.get('scale')}) "
                       f'on a {w}x{h} test image ({osp.basename(img_path)})')


def _model_window(model: EncoderDecoder) -> Tuple[Optional[int], Optional[int]]:
    """(window, stride) in model-input pixels from the config: the slide
    test mode's crop and stride, else the training crop size."""
    tc = model.test_cfg or {}
    if tc.get('mode') == 'slide':
        return int(max(tc['crop_size'])), int(max(tc['stride']))
    size = getattr(model.data_preprocessor, 'size', None) or model.cfg.get('crop_size')
    return (int(max(size)), None) if size else (None, None)


# ---------------------------------------------------------------- windows
def window_starts(length: int, window: int, stride: int) -> List[int]:
    """Start offsets of the windows along one axis, as mmseg's slide
    inference places them (the last one flush with the end)."""
    n = max(length - window + stride - 1, 0) // stride + 1
    return [max(min(i * stride + window, length) - window, 0) for i in range(n)]


def _nodata_values(src, nodata: Optional[float]) -> List[Optional[float]]:
    if nodata is not None:
        return [float(nodata)] * src.count
    return [None if v is None else float(v) for v in src.nodatavals]


def _nodata_mask(arr: np.ndarray, values: Sequence[Optional[float]]) -> np.ndarray:
    """(bands, h, w) -> (h, w) bool: a pixel is nodata where ANY band holds
    its nodata value (the converter drops a pixel when any band is nodata)."""
    mask = np.zeros(arr.shape[1:], bool)
    for band, v in zip(arr, values):
        if v is None:
            continue
        mask |= np.isnan(band) if math.isnan(v) else band == v
    return mask


@torch.no_grad()
def _predict_windows(model: EncoderDecoder, windows: List[np.ndarray],
                     scale: float, interpolation: str) -> torch.Tensor:
    """(bands, h, w) arrays of one shape -> (N, C, h, w) float logits."""
    _, h, w = windows[0].shape
    if getattr(model.data_preprocessor, 'channel_conversion', False) and windows[0].shape[0] == 3:
        # the preprocessor flips the loader's BGR to RGB; a GeoTIFF holds R, G, B
        windows = [arr[::-1] for arr in windows]
    inputs = []
    for arr in windows:
        img = np.ascontiguousarray(arr.transpose(1, 2, 0))  # HWC, as the loader gives it
        if scale != 1:
            # as mmcv's Resize(keep_ratio=True) sizes and resamples a tile
            img = mmcv.imresize(img, (int(w * scale + 0.5), int(h * scale + 0.5)),
                                interpolation=interpolation)
            img = img[..., None] if img.ndim == 2 else img
        inputs.append(torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))))
    from mmseg.structures import SegDataSample
    samples = [SegDataSample() for _ in inputs]
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), False)
    x = data['inputs']
    ih, iw = inputs[0].shape[1:]
    meta = [dict(img_shape=torch.Size(x.shape[2:]), ori_shape=(ih, iw))] * len(inputs)
    logits = model.encode_decode(x, meta)[:, :, :ih, :iw]  # test-time padding is bottom/right
    if (ih, iw) != (h, w):
        logits = resize(logits, size=(h, w), mode='bilinear',
                        align_corners=model.align_corners, warning=False)
    return logits.float().cpu()


def _expected_bands(model: EncoderDecoder) -> int:
    mean = getattr(model.data_preprocessor, 'mean', None)
    if mean is None:
        raise ValueError(f'{model.cfg.filename}: the model has no data preprocessor mean/std, '
                         'so the band count and normalisation it expects are unknown. Fix: '
                         'set model.data_preprocessor mean and std as in training.')
    return int(mean.numel())


# ------------------------------------------------------------- inference
def inference_scene(model: EncoderDecoder, source, out_path: str, *,
                    window: Optional[int] = None, overlap: Optional[int] = None,
                    scale_factor: Optional[float] = None, batch_size: int = 8,
                    nodata: Optional[float] = None, confidence_path: Optional[str] = None,
                    progress: bool = True) -> Dict:
    """Map a multi-band GeoTIFF to a uint8 class-map GeoTIFF, window by window.

    Args:
        model: from :func:`init_scene_model`.
        source: the input raster's path, or an open rasterio dataset (only
            ``count``, ``height``, ``width``, ``crs``, ``transform``,
            ``nodatavals``, ``dtypes``, ``name`` and ``read(window=...)``
            are used).
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
            it. Default: :func:`test_scale_factor` of the model's config.
        batch_size: windows per forward pass.
        nodata: a value that marks nodata in every band; default the file's
            per-band nodata. A pixel is nodata where ANY band equals it
            (NaN matches NaN); without any nodata every pixel is predicted.
        confidence_path: if given, also write the averaged softmax's
            maximum there (float32, same grid, nodata 0).
        progress: show a progress bar over the windows.

    Returns:
        A summary: paths, size, window, overlap, scale factor, windows run,
        nodata pixels, pixels per class, seconds.
    """
    import rasterio
    from rasterio.windows import Window
    t0 = time.time()
    own = isinstance(source, (str, os.PathLike))
    if own and not osp.isfile(source):
        raise FileNotFoundError(f"input scene '{source}' does not exist.")
    src = rasterio.open(source) if own else source
    try:
        name = getattr(src, 'name', str(source))
        if osp.abspath(out_path) == osp.abspath(name) or (
                confidence_path and osp.abspath(confidence_path) == osp.abspath(name)):
            raise ValueError(f"output '{out_path}' would overwrite the input. Fix: another path.")
        bands = _expected_bands(model)
        if src.count != bands:
            raise ValueError(
                f"'{name}' has {src.count} band(s); the model of {model.cfg.filename} takes "
                f'{bands}, in the order and value range it was trained on. Fix: write a '
                f'GeoTIFF of those {bands} bands (for the NC Landsat configs: `python '
                'tools/quickstart.py --write-scene-input OUT.tif` writes the converter\'s '
                'six uint8 bands 10/20/30/40/50/70 of the embedded scene; see docs/inference.md).')
        if src.dtypes[0] != 'uint8':
            warnings.warn(f"'{name}' holds {src.dtypes[0]} values; the models here are trained "
                          'on uint8 bands (0..255) and the file is fed as it is. Make sure '
                          'its values are in the range the model was trained on.')
        if scale_factor is None:
            scale_factor, scale_why = test_scale_factor(model.cfg)
        else:
            scale_why = 'given'
        if scale_factor <= 0:
            raise ValueError(f'scale_factor {scale_factor} must be > 0')
        resize_cfg = _test_resize_cfg(model.cfg) or {}
        interpolation = resize_cfg.get('interpolation', 'bilinear')
        m_win, m_stride = _model_window(model)
        if window is None:
            if m_win is None:
                raise ValueError(f'{model.cfg.filename}: no crop size to size the windows by. '
                                 'Fix: pass --window N (input pixels).')
            window = max(1, int(round(m_win / scale_factor)))
        if overlap is None:
            overlap = (window - max(1, int(round(m_stride / scale_factor)))
                       if m_stride else window // 4)
        if batch_size < 1:
            raise ValueError(f'batch_size {batch_size} must be >= 1')
        if not (window >= 1 and 0 <= overlap < window):
            raise ValueError(f'window {window} / overlap {overlap}: need window >= 1 and '
                             '0 <= overlap < window.')
        stride = window - overlap
        H, W = src.height, src.width
        wh, ww = min(window, H), min(window, W)
        ys, xs = window_starts(H, wh, stride), window_starts(W, ww, stride)
        nd_values = _nodata_values(src, nodata)
        has_nodata = any(v is not None for v in nd_values)
        C = model.decode_head.num_classes
        if C < 2:
            raise ValueError(f'{model.cfg.filename}: a {C}-class (sigmoid) head; scene '
                             'inference writes an argmax over 2 or more classes.')
        meta = model.dataset_meta

        os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
        profile = dict(driver='GTiff', height=H, width=W, count=1, dtype='uint8',
                       crs=src.crs, transform=src.transform, nodata=NODATA_OUT,
                       compress='deflate', BIGTIFF='IF_SAFER')
        dst = rasterio.open(out_path, 'w', **profile)
        conf_dst = None
        # the strip accumulator: rows [y, y + wh) of the scene
        acc = np.zeros((C, wh, W), np.float32)
        count = np.zeros((wh, W), np.float32)
        invalid = np.zeros((wh, W), bool)
        class_px = np.zeros(C, np.int64)
        nodata_px, run, skipped = 0, 0, 0
        bar = None
        if progress:
            from mmengine.utils import ProgressBar
            bar = ProgressBar(len(ys) * len(xs))

        def flush(batch: List[np.ndarray], where: List[int]) -> None:
            nonlocal run
            if not batch:
                return
            logits = _predict_windows(model, batch, scale_factor, interpolation).numpy()
            # summed window by window, left to right, as mmseg's slide mode sums
            for lg, x0 in zip(logits, where):
                acc[:, :, x0:x0 + ww] += lg
                count[:, x0:x0 + ww] += 1
            run += len(batch)
            if bar:
                for _ in batch:
                    bar.update()

        try:
            if confidence_path:
                os.makedirs(osp.dirname(osp.abspath(confidence_path)), exist_ok=True)
                conf_dst = rasterio.open(confidence_path, 'w', **dict(
                    profile, dtype='float32', nodata=CONF_NODATA, predictor=3))
            for k, y in enumerate(ys):
                batch, where = [], []
                for x in xs:
                    arr = src.read(window=Window(x, y, ww, wh))
                    if has_nodata:
                        bad = _nodata_mask(arr, nd_values)
                        invalid[:, x:x + ww] = bad
                        if bad.all():  # no valid pixel would get anything from it
                            skipped += 1
                            if bar:
                                bar.update()
                            continue
                    batch.append(arr)
                    where.append(x)
                    if len(batch) == batch_size:
                        flush(batch, where)
                        batch, where = [], []
                flush(batch, where)
                # rows above the next strip get nothing more: write and drop them
                done = (ys[k + 1] - y) if k + 1 < len(ys) else wh
                cls, conf = _finish_rows(acc[:, :done], count[:done], invalid[:done])
                dst.write(cls[None], window=Window(0, y, W, done))
                if conf_dst is not None:
                    conf_dst.write(conf[None], window=Window(0, y, W, done))
                ok = cls != NODATA_OUT
                class_px += np.bincount(cls[ok], minlength=C)[:C]
                nodata_px += int((~ok).sum())
                # shift the strip up in place (numpy copes with the overlap)
                acc[:, :wh - done] = acc[:, done:]
                acc[:, wh - done:] = 0
                count[:wh - done] = count[done:]
                count[wh - done:] = 0
                invalid[:wh - done] = invalid[done:]
                invalid[wh - done:] = False
            if bar:
                print(flush=True)
            tags = dict(classes=json.dumps(meta['classes']),
                        config=str(model.cfg.filename), checkpoint=str(model.checkpoint),
                        model=model.which, window=str(window), overlap=str(overlap),
                        scale_factor=str(scale_factor), nodata_rule='any band == nodata')
            dst.update_tags(**tags)
            dst.set_band_description(1, 'class')
            dst.write_colormap(1, _colormap(meta['palette']))
            if conf_dst is not None:
                conf_dst.update_tags(**tags)
                conf_dst.set_band_description(1, 'confidence (max softmax)')
        except BaseException:
            # a half-written map would read as a map with class 0 in the rest
            for f in (dst, conf_dst):
                if f is not None:
                    f.close()
                    os.remove(f.name)
            raise
        dst.close()
        if conf_dst is not None:
            conf_dst.close()
    finally:
        if own:
            src.close()
    return dict(input=name, output=out_path, confidence=confidence_path, height=H, width=W,
                window=window, overlap=overlap, scale_factor=scale_factor,
                scale_factor_from=scale_why, windows=len(ys) * len(xs), windows_run=run,
                windows_all_nodata=skipped, nodata=nd_values if has_nodata else None,
                nodata_pixels=nodata_px,
                class_pixels=dict(zip(meta['classes'], class_px.tolist())),
                model=model.which, seconds=round(time.time() - t0, 2))


def _finish_rows(acc: np.ndarray, count: np.ndarray,
                 invalid: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Averaged logits of finished rows -> (class map uint8, confidence)."""
    seen = count > 0
    logits = torch.from_numpy(acc / np.maximum(count, 1)[None])
    cls = logits.argmax(0).numpy().astype(np.uint8)
    conf = torch.softmax(logits, 0).amax(0).numpy().astype(np.float32)
    nodata = invalid | ~seen
    cls[nodata] = NODATA_OUT
    conf[nodata] = CONF_NODATA
    return cls, conf


def _colormap(palette: Sequence[Sequence[int]]) -> Dict[int, Tuple[int, int, int, int]]:
    cmap = {i: (0, 0, 0, 0) for i in range(256)}  # unused and nodata: transparent
    for i, (r, g, b) in enumerate(palette):
        cmap[i] = (int(r), int(g), int(b), 255)
    return cmap
