"""Loading transforms for multi-band remote-sensing tiles."""
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform, LoadImageFromFile
from mmseg.registry import TRANSFORMS

_TIFF_SUFFIXES = ('.tif', '.tiff')


@TRANSFORMS.register_module()
class LoadRSImageFromFile(LoadImageFromFile):
    """Load a tile of any band count; GeoTIFF-style ``.tif`` via tifffile.

    ``.tif``/``.tiff`` files are decoded with tifffile (H x W x C, bands in
    file order, any C); other files with mmcv's decoder as in mmseg's
    ``LoadImageFromFile`` (PNG/JPEG come back in BGR). A file that cannot be
    decoded raises ``OSError`` naming the file and how to rebuild it, instead
    of a bare decoder traceback; a float image with NaN / inf pixels raises
    ``ValueError`` naming the file (one pass over the pixels of float images
    only), rather than train on a NaN loss.

    Args:
        fix_hint: what to tell the user when a tile is unreadable.
        **kwargs: as :class:`mmcv.transforms.LoadImageFromFile`.
    """

    def __init__(self, fix_hint: str = 're-run the dataset converter',
                 **kwargs) -> None:
        kwargs.setdefault('color_type', 'unchanged')
        super().__init__(**kwargs)
        self.fix_hint = fix_hint
        self._default_backend = self.imdecode_backend

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        self.imdecode_backend = ('tifffile' if filename.lower().endswith(
            _TIFF_SUFFIXES) else self._default_backend)
        try:
            results = super().transform(results)
        except Exception as e:  # decoder errors come in many types
            raise OSError(f"Cannot read image tile '{filename}' ({e}). "
                          f'Fix: {self.fix_hint}.') from e
        if results is None:  # ignore_empty and the file is missing
            return None
        img = results['img']
        if img.dtype.kind == 'f' and not np.isfinite(img).all():
            bad = int(img.size - np.count_nonzero(np.isfinite(img)))
            raise ValueError(
                f"Image tile '{filename}' has {bad} non-finite (NaN / inf) pixel value(s): "
                'training on it gives a NaN loss. Fix: '
                f'{self.fix_hint}, or replace them (e.g. by a nodata value whose label pixels '
                'are 255); python tools/check_dataset.py CONFIG lists every such file.')
        if img.ndim == 2:
            img = img[..., None]
            results['img'] = img
        return results


@TRANSFORMS.register_module()
class CheckSegLabels(BaseTransform):
    """Fail on label values that are neither a class index nor ignore.

    A label PNG written with the wrong palette or class mapping would
    otherwise train silently on out-of-range targets (or crash deep in the
    loss on GPU). Put it right after ``LoadAnnotations``.

    Args:
        num_classes: valid labels are ``0 .. num_classes - 1``. ``None``
            takes the class count of the dataset the sample comes from
            (``results['num_classes']``, which :class:`RSSegDataset` sets), so
            one pipeline serves datasets with different class counts.
        ignore_index: the one other value allowed.
    """

    def __init__(self, num_classes: Optional[int] = None,
                 ignore_index: int = 255) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        seg = results.get('gt_seg_map')
        if seg is None:
            return results
        num_classes = self.num_classes
        if num_classes is None:
            num_classes = results.get('num_classes')
            if num_classes is None:
                raise KeyError(
                    f"CheckSegLabels() has no num_classes and the sample of "
                    f"'{results.get('img_path')}' does not carry one (only "
                    'RSSegDataset subclasses set it). Fix: write '
                    'CheckSegLabels(num_classes=N) in the pipeline.')
        values = np.unique(seg)
        bad = values[(values >= num_classes) & (values != self.ignore_index)]
        if bad.size:
            raise ValueError(
                f"Label map '{results.get('seg_map_path')}' has values "
                f'{bad.tolist()} outside the {num_classes} classes '
                f'(0..{num_classes - 1}) and the ignore index '
                f'{self.ignore_index}. Fix: re-run the dataset converter, or '
                'check the class mapping / `num_classes` in the config.')
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')
