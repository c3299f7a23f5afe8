"""One batch of scene windows through a segmentor, as ``tools/test.py``
predicts a test tile: resized by the test pipeline's factor, normalised by
the model's data preprocessor, ``encode_decode``, logits resized back.

Nodata pixels are first set to the model's normalisation mean, i.e. to 0
after normalisation, the value mmseg pads with: the model sees the same
neutral input there whatever value the file stores."""
from typing import List

import mmcv
import numpy as np
import torch
from mmseg.models import EncoderDecoder
from mmseg.models.utils import resize
from mmseg.structures import SegDataSample


def band_means(model: EncoderDecoder) -> np.ndarray:
    """The per-band normalisation mean the model's data preprocessor
    subtracts, as (bands,) float32; a clear error when there is none."""
    mean = getattr(model.data_preprocessor, 'mean', None)
    if mean is None:
        raise ValueError(f'{model.cfg.filename}: the model has no data preprocessor mean/std, '
                         'so the band count and normalisation it expects are unknown. Fix: '
                         'set model.data_preprocessor mean and std as in training.')
    return mean.flatten().float().cpu().numpy()


def fill_invalid(arr: np.ndarray, valid: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """``arr`` ((bands, h, w) float32, changed in place) with ``fill[b]`` in
    band b where ``valid`` is False."""
    arr[:, ~valid] = fill[:, None]
    return arr


def _model_inputs(model: EncoderDecoder, windows: List[np.ndarray], scale: float,
                  interpolation: str) -> List[torch.Tensor]:
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
    return inputs


@torch.no_grad()
def predict_windows(model: EncoderDecoder, windows: List[np.ndarray],
                    scale: float, interpolation: str) -> torch.Tensor:
    """(bands, h, w) float32 arrays of one shape (nodata already filled) ->
    (N, C, h, w) float logits."""
    _, h, w = windows[0].shape
    inputs = _model_inputs(model, windows, scale, interpolation)
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
