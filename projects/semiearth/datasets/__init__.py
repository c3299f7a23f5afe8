from .nc_landsat import NCLandsatDataset
from .rs_seg_dataset import RSSegDataset
from .semi_dataset import SemiDataset
from .transforms import (AddValidMask, CheckSegLabels, LoadRSImageFromFile,
                         MultiBranch, PackSemiSegInputs, RandomColorJitter,
                         RandomGaussianBlur, RandomGrayscaleRGB)

__all__ = ['RSSegDataset', 'SemiDataset', 'NCLandsatDataset', 'LoadRSImageFromFile',
           'CheckSegLabels', 'AddValidMask', 'MultiBranch', 'PackSemiSegInputs',
           'RandomColorJitter', 'RandomGrayscaleRGB', 'RandomGaussianBlur']
