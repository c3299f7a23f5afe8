"""Source pixel coordinates that travel with a view's geometry."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class AddSourceCoords(BaseTransform):
    """Record, for every pixel, the (x, y) pixel of the loaded image it came from.

    Adds ``src_coords`` (H, W, 2) float32 to ``seg_fields``, so mmseg's
    geometric transforms (resize with nearest interpolation, crop, flip) move
    it exactly like the label map. After them, ``src_coords[i, j]`` says which
    pixel of the original image view pixel (i, j) shows: cached per-image
    data (the VLM evidence) can then be put through the view's geometry by a
    lookup. Padding added by the data preprocessor is -1 (no source pixel).
    Put it right after loading, before any geometric transform.
    """

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        ys, xs = np.meshgrid(np.arange(h, dtype=np.float32),
                             np.arange(w, dtype=np.float32), indexing='ij')
        results['src_coords'] = np.stack([xs, ys], axis=-1)
        results.setdefault('seg_fields', []).append('src_coords')
        return results
