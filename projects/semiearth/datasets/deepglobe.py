"""DeepGlobe Land Cover under the DWL protocol."""
from mmseg.registry import DATASETS

from ..vlm.class_names import RS_CLASS_NAMES
from .potsdam import PotsdamDWLDataset


@DATASETS.register_module()
class DeepGlobeLandCoverDataset(PotsdamDWLDataset):
    """DeepGlobe Land Cover, 6 classes: urban, agriculture, rangeland, forest,
    water, barren. "Unknown" (black in the masks) is ignore (255).

    Data: the 803 training images (2448 x 2448) cut in 5 x 5 crops of 512,
    zero-padded at the edges, by ``tools/dataset_converters/deepglobe.py``.
    ``palette`` is the mask colour of each class.
    """
    CONVERTER = 'python tools/dataset_converters/deepglobe.py RAW_DIR'
    METAINFO = dict(
        classes=tuple(RS_CLASS_NAMES['deepglobe']),
        palette=[[0, 255, 255], [255, 255, 0], [255, 0, 255], [0, 255, 0],
                 [0, 0, 255], [255, 255, 255]])
