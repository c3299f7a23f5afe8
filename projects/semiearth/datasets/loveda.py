"""LoveDA under the DWL protocol."""
from mmseg.registry import DATASETS

from ..vlm.class_names import RS_CLASS_NAMES
from .potsdam import PotsdamDWLDataset


@DATASETS.register_module()
class LoveDADWLDataset(PotsdamDWLDataset):
    """LoveDA, 7 classes: background, building, road, water, barren, forest,
    agricultural. The raw masks' 0 (no-data) is ignore (255) and 1..7 become
    0..6 in the converted labels (mmseg's ``LoveDADataset`` does the same
    with ``reduce_zero_label`` on the raw masks).

    Data: every Train and Val tile (1024 x 1024, urban and rural) cut in four
    512 crops by ``tools/dataset_converters/loveda.py``.
    """
    CONVERTER = 'python tools/dataset_converters/loveda.py RAW_DIR'
    METAINFO = dict(
        classes=tuple(RS_CLASS_NAMES['loveda']),
        palette=[[255, 255, 255], [255, 0, 0], [255, 255, 0], [0, 0, 255],
                 [159, 129, 183], [0, 255, 0], [255, 195, 128]])
