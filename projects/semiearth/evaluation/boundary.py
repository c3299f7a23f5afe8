"""Class boundaries of a label map, as Boundary IoU defines them.

Boundary IoU (Cheng, Girshick, Dollár, Berg, Kirillov, *Boundary IoU:
Improving Object-Centric Image Segmentation Evaluation*, CVPR 2021; reference
code bowenc0221/boundary-iou-api, ``boundary_iou/utils/boundary_utils.py``,
``mask_to_boundary``) calls the boundary of a binary mask ``G`` the mask
minus its erosion: ``G_d & G``, the pixels of ``G`` within ``d`` px of a pixel
outside ``G``, where ``d = max(1, round(dilation_ratio * image diagonal))``
and the erosion is ``d`` passes of a 3x3 square (so "within ``d`` px" is the
chessboard distance). The reference pads the mask with one row/column of 0,
so the image border counts as outside the mask.

One label map holds every class's mask, and a pixel belongs to exactly one
class, so the boundaries of all classes at once are the pixels whose
``(2d+1) x (2d+1)`` window holds another value: where the window's maximum
and minimum differ. That is two morphological passes over the whole label
map (OpenCV, ``uint8``), whatever the number of classes. This module is the
one place the boundary band is computed: :class:`BoundaryIoUMetric`, the
purification study and the training diagnostics all call
:func:`class_boundaries` / :func:`boundary_band`.
"""
import math
from typing import Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch import Tensor

#: Boundary IoU's default: the band is 2% of the image diagonal wide.
DILATION_RATIO = 0.02


def boundary_width(shape: Sequence[int], dilation_ratio: float = DILATION_RATIO) -> int:
    """``d`` for an image of ``shape`` ``(..., H, W)``: ``max(1, round(ratio *
    diagonal))``, Python's ``round`` (half to even), as the reference."""
    h, w = shape[-2:]
    return max(1, int(round(dilation_ratio * math.sqrt(h ** 2 + w ** 2))))


def _as_uint8(label: np.ndarray, ignore_index: int, other: int) -> Tuple[np.ndarray, np.ndarray]:
    """``(label as uint8 with ignore_index -> other, valid mask)``."""
    valid = label != ignore_index
    real = label[valid]
    if real.size and (int(real.max()) >= 255 or int(real.min()) < 0):
        raise ValueError(f'class_boundaries: labels must lie in 0..254 (and {ignore_index} '
                         f'for ignore); got {int(real.min())}..{int(real.max())}')
    out = label.astype(np.uint8)
    out[~valid] = other
    return out, valid


def class_boundaries(label: np.ndarray, width: int, ignore_index: int = 255,
                     outside_is_boundary: bool = True) -> np.ndarray:
    """Pixels of ``label`` (H, W) within ``width`` px of another class.

    Returns a bool map, False on ``ignore_index`` pixels. For each class
    ``k`` the result restricted to ``label == k`` is ``mask_to_boundary(label
    == k)`` of the reference (with its ``d = width``) when
    ``outside_is_boundary`` (default): the image border and the ignored
    pixels count as "another class", as the reference's zero padding makes
    the border. With ``outside_is_boundary=False`` they are neutral: only a
    pixel of another real class makes a boundary (the band of a class edge
    in the ground truth, used to split pixels into boundary and interior).
    """
    if label.ndim != 2:
        raise ValueError(f'class_boundaries expects one (H, W) label map, got {label.shape}')
    if width < 1:
        raise ValueError(f'class_boundaries: width must be >= 1, got {width}')
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * width + 1, 2 * width + 1))
    if outside_is_boundary:
        # ignored pixels and the padding take a value no class has
        lab, valid = _as_uint8(label, ignore_index, 255)
        pad = dict(borderType=cv2.BORDER_CONSTANT, borderValue=255)
        hi = cv2.dilate(lab, kernel, **pad)
        lo = cv2.erode(lab, kernel, **pad)
    else:
        # classes shifted to 1..255; ignored pixels 0 for the maximum and
        # 255 for the minimum (and OpenCV's default border, the same)
        lab, valid = _as_uint8(label, ignore_index, 0)
        lab = lab + valid.astype(np.uint8)
        hi = cv2.dilate(lab, kernel)
        lo = cv2.erode(np.where(valid, lab, np.uint8(255)), kernel)
    return (hi != lo) & valid


def boundary_band(gt: Union[Tensor, np.ndarray], dilation_ratio: float = DILATION_RATIO,
                  ignore_index: int = 255, width: int = None,
                  outside_is_boundary: bool = False) -> Union[Tensor, np.ndarray]:
    """The boundary band of ground truth ``gt`` (H, W) or (B, H, W).

    Pixels within ``d`` px of an edge between two classes of ``gt``, with
    ``d = width``, or :func:`boundary_width` of the map's size and
    ``dilation_ratio``; ignored pixels are in neither the band nor a class,
    and the image border is not an edge (set ``outside_is_boundary`` to
    count both as edges, as Boundary IoU does). The rest of the valid
    pixels is the interior. Returns a bool map of the same kind (a tensor
    on ``gt``'s device, or an array).
    """
    d = boundary_width(gt.shape, dilation_ratio) if width is None else width
    is_tensor = isinstance(gt, Tensor)
    arr = gt.detach().cpu().numpy() if is_tensor else np.asarray(gt)
    maps = arr.reshape(-1, *arr.shape[-2:])
    band = np.stack([class_boundaries(m, d, ignore_index, outside_is_boundary)
                     for m in maps]).reshape(arr.shape)
    return torch.from_numpy(band).to(gt.device) if is_tensor else band
