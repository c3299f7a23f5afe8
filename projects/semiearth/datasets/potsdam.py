"""ISPRS Potsdam under the DWL protocol (SemiEarth's and its peers')."""
from mmseg.registry import DATASETS

from ..vlm.class_names import RS_CLASS_NAMES
from .rs_seg_dataset import RSSegDataset


@DATASETS.register_module()
class PotsdamDWLDataset(RSSegDataset):
    """ISPRS Potsdam, 5 classes: impervious surface, building, low vegetation,
    tree, car. Clutter is ignore (255), as the DWL protocol excludes it from
    mIoU (mmseg's ``PotsdamDataset`` keeps it as a sixth class).

    Data: 512 x 512 crops of the 38 labelled RGB tiles, zero-padded at the
    edges (label 255), written by ``tools/dataset_converters/potsdam.py``:
    ``img_dir/<tile>_<row>_<col>.png``, ``ann_dir/...png`` (class index),
    ``splits/*.txt``. ``palette`` is the ISPRS label colour of each class.
    """
    CONVERTER = 'python tools/dataset_converters/potsdam.py RAW_DIR'
    METAINFO = dict(
        classes=tuple(RS_CLASS_NAMES['potsdam']),
        palette=[[255, 255, 255], [0, 0, 255], [0, 255, 255], [0, 255, 0],
                 [255, 255, 0]])

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         **kwargs)
