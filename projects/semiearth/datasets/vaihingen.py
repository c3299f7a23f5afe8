"""ISPRS Vaihingen under the LSST / WSCL protocol."""
from mmseg.registry import DATASETS

from ..vlm.class_names import RS_CLASS_NAMES
from .potsdam import PotsdamDWLDataset


@DATASETS.register_module()
class VaihingenDataset(PotsdamDWLDataset):
    """ISPRS Vaihingen (IRRG), 6 classes: Potsdam's five and clutter, as
    mmseg's ``ISPRSDataset``; the black boundary of the eroded release is
    ignore (255).

    Data: 512 x 512 crops of the official train and test areas, written by
    ``tools/dataset_converters/vaihingen.py`` in Potsdam's layout.
    """
    CONVERTER = 'python tools/dataset_converters/vaihingen.py RAW_DIR'
    METAINFO = dict(
        classes=tuple(RS_CLASS_NAMES['vaihingen']),
        palette=PotsdamDWLDataset.METAINFO['palette'] + [[255, 0, 0]])
