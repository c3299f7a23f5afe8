"""DeepGlobe Land Cover under the DWL protocol."""
from typing import Optional

from mmseg.registry import DATASETS

from .rs_seg_dataset import RSSegDataset


@DATASETS.register_module()
class DeepGlobeLandCoverDataset(RSSegDataset):
    """DeepGlobe Land Cover, 6 classes, as the DWL protocol evaluates it.

    Label encoding (``ann_dir/*.png``, one uint8 class index a pixel):
    0 urban, 1 agriculture, 2 rangeland, 3 forest, 4 water, 5 barren; 255
    ignore: "unknown" (black in the RGB masks) and the zero padding of edge
    crops. The converter binarises each mask channel at 128 before the colour
    lookup, as the release notes ask.

    Data, written by ``tools/dataset_converters/deepglobe.py``: the 803
    labelled training images (2448 x 2448) zero-padded to 2560 and cut into
    5 x 5 crops of 512 (20,075), ``img_dir/deepglobe_<id>_<row>_<col>.png``
    (the JPEG decoded once, stored lossless) and the same name in
    ``ann_dir``; ``splits/train.txt`` / ``val.txt`` / ``test.txt`` 60/20/20,
    seed 42, and nested ``train_labeled_{1,5,10}pct.txt`` with their
    ``train_unlabeled_*`` complements.

    Defaults: ``img_suffix='.png'``, ``seg_map_suffix='.png'``,
    ``data_prefix=dict(img_path='img_dir', seg_map_path='ann_dir')``.
    ``palette`` holds the mask colour of each class.
    """
    CONVERTER = 'python tools/dataset_converters/deepglobe.py RAW_DIR'
    METAINFO = dict(
        classes=('urban', 'agriculture', 'rangeland', 'forest', 'water', 'barren'),
        palette=[[0, 255, 255], [255, 255, 0], [255, 0, 255], [0, 255, 0],
                 [0, 0, 255], [255, 255, 255]])

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '.png',
                 data_prefix: Optional[dict] = None, **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix or dict(img_path='img_dir', seg_map_path='ann_dir'),
            **kwargs)
