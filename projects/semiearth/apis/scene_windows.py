"""Where the windows of a scene go and how much each is enlarged: mmseg's
``slide`` grid over the scene, sized from the model's config (its crop, its
slide stride, the factor its test pipeline resizes a test tile by)."""
import copy
import os.path as osp
from typing import List, NamedTuple, Optional, Tuple

import numpy as np
from mmengine.config import Config
from mmseg.models import EncoderDecoder
from mmseg.registry import DATASETS, TRANSFORMS


class WindowPlan(NamedTuple):
    """``window`` / ``overlap`` in input pixels; ``wh`` x ``ww`` the window
    clipped to the scene; ``ys`` / ``xs`` the window starts; the scale factor
    (and where it came from) and the resize interpolation."""
    window: int
    overlap: int
    wh: int
    ww: int
    ys: List[int]
    xs: List[int]
    scale_factor: float
    scale_factor_from: str
    interpolation: str


def window_starts(length: int, window: int, stride: int) -> List[int]:
    """Start offsets of the windows along one axis, as mmseg's slide
    inference places them (the last one flush with the end)."""
    n = max(length - window + stride - 1, 0) // stride + 1
    return [max(min(i * stride + window, length) - window, 0) for i in range(n)]


def test_resize_cfg(cfg: Config) -> Optional[dict]:
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
    resize_cfg = test_resize_cfg(cfg)
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
    out = TRANSFORMS.build(resize_cfg)(dict(img=np.zeros((h, w, c), np.uint8)))
    sx, sy = out['scale_factor']
    if abs(sx - sy) > 1e-6:
        raise ValueError(f'{cfg.filename}: the test pipeline resizes {img_path} ({w}x{h}) '
                         f'by {sx:.4f} x {sy:.4f}, not uniformly. {fix}')
    return float(sx), (f"test pipeline {resize_cfg['type']}(scale={resize_cfg.get('scale')}) "
                       f'on a {w}x{h} test image ({osp.basename(img_path)})')


def model_window(model: EncoderDecoder) -> Tuple[Optional[int], Optional[int]]:
    """(window, stride) in model-input pixels from the config: the slide
    test mode's crop and stride, else the training crop size."""
    tc = model.test_cfg or {}
    if tc.get('mode') == 'slide':
        return int(max(tc['crop_size'])), int(max(tc['stride']))
    size = getattr(model.data_preprocessor, 'size', None) or model.cfg.get('crop_size')
    return (int(max(size)), None) if size else (None, None)


def plan_windows(model: EncoderDecoder, height: int, width: int,
                 window: Optional[int] = None, overlap: Optional[int] = None,
                 scale_factor: Optional[float] = None) -> WindowPlan:
    """The windows of a ``height`` x ``width`` scene; None takes the model's
    default (see :func:`~.scene_inference.inference_scene`)."""
    if scale_factor is None:
        scale_factor, scale_why = test_scale_factor(model.cfg)
    else:
        scale_why = 'given'
    if scale_factor <= 0:
        raise ValueError(f'scale_factor {scale_factor} must be > 0')
    interpolation = (test_resize_cfg(model.cfg) or {}).get('interpolation', 'bilinear')
    m_win, m_stride = model_window(model)
    if window is None:
        if m_win is None:
            raise ValueError(f'{model.cfg.filename}: no crop size to size the windows by. '
                             'Fix: pass --window N (input pixels).')
        window = max(1, int(round(m_win / scale_factor)))
    if overlap is None:
        overlap = (window - max(1, int(round(m_stride / scale_factor)))
                   if m_stride else window // 4)
    if not (window >= 1 and 0 <= overlap < window):
        raise ValueError(f'window {window} / overlap {overlap}: need window >= 1 and '
                         '0 <= overlap < window.')
    stride = window - overlap
    wh, ww = min(window, height), min(window, width)
    return WindowPlan(window, overlap, wh, ww, window_starts(height, wh, stride),
                      window_starts(width, ww, stride), float(scale_factor), scale_why,
                      interpolation)
