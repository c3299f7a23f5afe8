"""ISPRS Potsdam under the DWL protocol (SemiEarth's and its peers')."""
from typing import Optional

from mmseg.registry import DATASETS

from .rs_seg_dataset import RSSegDataset


@DATASETS.register_module()
class PotsdamDWLDataset(RSSegDataset):
    """ISPRS Potsdam (RGB), 5 classes, as the DWL protocol evaluates it.

    Label encoding (``ann_dir/*.png``, one uint8 class index a pixel):
    0 impervious surface, 1 building, 2 low vegetation, 3 tree, 4 car; 255
    ignore: clutter / background (excluded from training and mIoU by the
    protocol; mmseg's ``PotsdamDataset`` keeps it as a sixth class), the black
    boundary of the eroded release, and the zero padding of edge crops.

    Data, written by ``tools/dataset_converters/potsdam.py``: the 38 labelled
    6000 x 6000 tiles zero-padded to 6144 and cut into 12 x 12 crops of 512
    (5,472), ``img_dir/potsdam_<tile>_<row>_<col>.png`` and the same name in
    ``ann_dir``; ``splits/train.txt`` (3,283) / ``val.txt`` (1,094) /
    ``test.txt`` (1,095), seed 42, and nested ``train_labeled_{1,5,10}pct.txt``
    (32 / 164 / 328) with their ``train_unlabeled_*`` complements.

    Defaults: ``img_suffix='.png'``, ``seg_map_suffix='.png'``,
    ``data_prefix=dict(img_path='img_dir', seg_map_path='ann_dir')``; give
    ``data_root`` and ``ann_file`` (e.g. ``'splits/train.txt'``).
    ``palette`` holds the ISPRS label colour of each class.
    """
    CONVERTER = 'python tools/dataset_converters/potsdam.py RAW_DIR'
    METAINFO = dict(
        classes=('impervious_surface', 'building', 'low_vegetation', 'tree', 'car'),
        palette=[[255, 255, 255], [0, 0, 255], [0, 255, 255], [0, 255, 0],
                 [255, 255, 0]])

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '.png',
                 data_prefix: Optional[dict] = None, **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix or dict(img_path='img_dir', seg_map_path='ann_dir'),
            **kwargs)
