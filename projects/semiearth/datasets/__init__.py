from .deepglobe import DeepGlobeLandCoverDataset
from .loveda import LoveDADWLDataset
from .nc_landsat import NCLandsatDataset
from .potsdam import PotsdamDWLDataset
from .rs_seg_dataset import RSSegDataset
from .semi_dataset import SemiDataset
from .vaihingen import VaihingenDataset
from .transforms import (AddValidMask, CheckSegLabels, LoadRSImageFromFile,
                         MultiBranch, PackSemiSegInputs, RandomColorJitter,
                         RandomGaussianBlur, RandomGrayscaleRGB)

__all__ = ['RSSegDataset', 'SemiDataset', 'NCLandsatDataset', 'PotsdamDWLDataset',
           'VaihingenDataset', 'LoveDADWLDataset', 'DeepGlobeLandCoverDataset',
           'LoadRSImageFromFile',
           'CheckSegLabels', 'AddValidMask', 'MultiBranch', 'PackSemiSegInputs',
           'RandomColorJitter', 'RandomGrayscaleRGB', 'RandomGaussianBlur']
