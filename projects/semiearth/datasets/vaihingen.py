"""ISPRS Vaihingen under the LSST / WSCL protocol."""
from typing import Optional

from mmseg.registry import DATASETS

from .rs_seg_dataset import RSSegDataset


@DATASETS.register_module()
class VaihingenDataset(RSSegDataset):
    """ISPRS Vaihingen (IRRG), 6 classes, as mmseg's ``ISPRSDataset``.

    Label encoding (``ann_dir/*.png``, one uint8 class index a pixel):
    0 impervious surface, 1 building, 2 low vegetation, 3 tree, 4 car,
    5 clutter; 255 ignore: the black boundary of the eroded release and the
    zero padding of edge crops. Images keep the release's false colour: the
    PNG's red, green and blue channels hold near-infrared, red and green.

    Data, written by ``tools/dataset_converters/vaihingen.py``: each of the
    33 labelled areas zero-padded to a multiple of 512 and cut into crops,
    ``img_dir/vaihingen_<area>_<row>_<col>.png`` and the same name in
    ``ann_dir``. ``splits/train.txt`` holds the crops of the 16 official
    training areas, ``test.txt`` those of the 17 test areas, and ``val.txt``
    is a copy of ``test.txt``: the LSST / WSCL protocol evaluates on the test
    areas and has no validation set. Nested ``train_labeled_1of8.txt`` /
    ``1of4`` with their ``train_unlabeled_*`` complements.

    Defaults: ``img_suffix='.png'``, ``seg_map_suffix='.png'``,
    ``data_prefix=dict(img_path='img_dir', seg_map_path='ann_dir')``.
    ``palette`` holds the ISPRS label colour of each class.
    """
    CONVERTER = 'python tools/dataset_converters/vaihingen.py RAW_DIR'
    METAINFO = dict(
        classes=('impervious_surface', 'building', 'low_vegetation', 'tree', 'car',
                 'clutter'),
        palette=[[255, 255, 255], [0, 0, 255], [0, 255, 255], [0, 255, 0],
                 [255, 255, 0], [255, 0, 0]])

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '.png',
                 data_prefix: Optional[dict] = None, **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix or dict(img_path='img_dir', seg_map_path='ann_dir'),
            **kwargs)
