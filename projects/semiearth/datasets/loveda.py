"""LoveDA under the DWL protocol."""
from typing import Optional

from mmseg.registry import DATASETS

from .rs_seg_dataset import RSSegDataset


@DATASETS.register_module()
class LoveDADWLDataset(RSSegDataset):
    """LoveDA (urban and rural), 7 classes, as the DWL protocol uses it.

    Label encoding (``ann_dir/*.png``, one uint8 class index a pixel):
    0 background, 1 building, 2 road, 3 water, 4 barren, 5 forest,
    6 agricultural; 255 ignore (the raw masks' 0, no-data). That is the raw
    mask value minus one: mmseg's ``LoveDADataset`` reads the raw masks with
    ``reduce_zero_label=True`` to the same effect; these labels are already
    reduced, so leave ``reduce_zero_label`` off.

    Data, written by ``tools/dataset_converters/loveda.py``: every Train and
    Val tile (1024 x 1024; 2,522 + 1,669) cut into 2 x 2 crops of 512
    (16,764), ``img_dir/<urban|rural>_<id>_<row>_<col>.png`` and the same
    name in ``ann_dir`` (the domain is in the name: ids are per domain);
    ``splits/train.txt`` / ``val.txt`` / ``test.txt`` 60/20/20 of the crops,
    seed 42, and nested ``train_labeled_{1,5,10}pct.txt`` with their
    ``train_unlabeled_*`` complements.

    Defaults: ``img_suffix='.png'``, ``seg_map_suffix='.png'``,
    ``data_prefix=dict(img_path='img_dir', seg_map_path='ann_dir')``.
    ``palette`` is mmseg's LoveDA palette.
    """
    CONVERTER = 'python tools/dataset_converters/loveda.py RAW_DIR'
    METAINFO = dict(
        classes=('background', 'building', 'road', 'water', 'barren', 'forest',
                 'agricultural'),
        palette=[[255, 255, 255], [255, 0, 0], [255, 255, 0], [0, 0, 255],
                 [159, 129, 183], [0, 255, 0], [255, 195, 128]])

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '.png',
                 data_prefix: Optional[dict] = None, **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix or dict(img_path='img_dir', seg_map_path='ann_dir'),
            **kwargs)
