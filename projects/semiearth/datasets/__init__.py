from .nc_landsat import NCLandsatDataset
from .rs_seg_dataset import RSSegDataset
from .transforms import CheckSegLabels, LoadRSImageFromFile

__all__ = ['RSSegDataset', 'NCLandsatDataset', 'LoadRSImageFromFile',
           'CheckSegLabels']
