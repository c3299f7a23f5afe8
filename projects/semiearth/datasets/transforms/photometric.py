"""Strong-view photometric augmentation for images of any band count.

UniMatch-V2's strong view (ColorJitter(0.5, 0.5, 0.5, 0.25) p=0.8,
RandomGrayscale p=0.2, GaussianBlur p=0.5) is defined for RGB. Here brightness,
contrast and blur act on every band, while saturation, hue and grayscale act on
the three bands named by ``rgb_channels`` (default (2, 1, 0): R, G, B in mmcv's
BGR PNGs and in the NC Landsat six-band tiles, whose first bands are 10/20/30 =
B/G/R). Images stay in their 0-255 value range. Geometry is never changed, so
a strong view keeps the weak view's pixel grid.
"""
from typing import Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # R, G, B weights


def _gray(rgb: np.ndarray) -> np.ndarray:
    return (rgb @ _LUMA)[..., None]


class _RGBTransform(BaseTransform):
    needs_rgb = True

    def __init__(self, prob: float, rgb_channels: Sequence[int]) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob
        self.rgb = list(rgb_channels)

    def transform(self, results: dict) -> dict:
        if np.random.rand() < self.prob:
            img = results['img'].astype(np.float32)
            if img.ndim == 2:
                img = img[..., None]
            if self.needs_rgb and img.shape[-1] < 3:
                raise ValueError(f'{type(self).__name__} needs >= 3 bands, '
                                 f'got image of shape {img.shape}')
            results['img'] = np.clip(self._apply(img), 0, 255)
        return results


@TRANSFORMS.register_module()
class RandomColorJitter(_RGBTransform):
    """torchvision-style ColorJitter in random order, applied with ``prob``.

    Args:
        brightness, contrast, saturation: factors drawn from
            ``[max(0, 1 - x), 1 + x]``.
        hue: shift drawn from ``[-hue, hue]`` (fraction of the hue circle).
        prob: probability of applying the jitter at all.
        rgb_channels: indices of R, G, B.
    """

    def __init__(self, brightness: float = 0.5, contrast: float = 0.5,
                 saturation: float = 0.5, hue: float = 0.25, prob: float = 0.8,
                 rgb_channels: Sequence[int] = (2, 1, 0)) -> None:
        super().__init__(prob, rgb_channels)
        if not 0 <= hue <= 0.5:
            raise ValueError(f'hue must be in [0, 0.5], got {hue}')
        self.brightness, self.contrast = brightness, contrast
        self.saturation, self.hue = saturation, hue

    @staticmethod
    def _factor(x: float) -> float:
        return float(np.random.uniform(max(0.0, 1 - x), 1 + x))

    def _apply(self, img: np.ndarray) -> np.ndarray:
        for op in np.random.permutation(4):
            if op == 0 and self.brightness > 0:
                img = img * self._factor(self.brightness)
            elif op == 1 and self.contrast > 0:
                mean = _gray(img[..., self.rgb]).mean()
                img = (img - mean) * self._factor(self.contrast) + mean
            elif op == 2 and self.saturation > 0:
                rgb = img[..., self.rgb]
                g = _gray(rgb)
                img[..., self.rgb] = (rgb - g) * self._factor(self.saturation) + g
            elif op == 3 and self.hue > 0:
                rgb = np.clip(img[..., self.rgb], 0, 255) / 255.0
                hsv = cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2HSV)
                shift = np.random.uniform(-self.hue, self.hue) * 360.0
                hsv[..., 0] = (hsv[..., 0] + shift) % 360.0
                img[..., self.rgb] = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0
            img = np.clip(img, 0, 255)
        return img

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(brightness={self.brightness}, '
                f'contrast={self.contrast}, saturation={self.saturation}, '
                f'hue={self.hue}, prob={self.prob}, rgb_channels={self.rgb})')


@TRANSFORMS.register_module()
class RandomGrayscaleRGB(_RGBTransform):
    """Replace the R, G, B bands by their luminance with ``prob``."""

    def __init__(self, prob: float = 0.2,
                 rgb_channels: Sequence[int] = (2, 1, 0)) -> None:
        super().__init__(prob, rgb_channels)

    def _apply(self, img: np.ndarray) -> np.ndarray:
        img[..., self.rgb] = _gray(img[..., self.rgb])
        return img


@TRANSFORMS.register_module()
class RandomGaussianBlur(_RGBTransform):
    """Gaussian blur of every band, sigma drawn from ``sigma_range``."""
    needs_rgb = False

    def __init__(self, prob: float = 0.5,
                 sigma_range: Tuple[float, float] = (0.1, 2.0)) -> None:
        super().__init__(prob, (0, 1, 2))
        self.sigma_range = tuple(sigma_range)

    def _apply(self, img: np.ndarray) -> np.ndarray:
        sigma = float(np.random.uniform(*self.sigma_range))
        out = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma,
                               borderType=cv2.BORDER_REFLECT_101)
        return out.reshape(img.shape)
