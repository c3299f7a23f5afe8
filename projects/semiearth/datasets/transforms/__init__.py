from .loading import CheckSegLabels, LoadRSImageFromFile
from .photometric import RandomColorJitter, RandomGaussianBlur, RandomGrayscaleRGB
from .semi_branches import AddValidMask, MultiBranch, PackSemiSegInputs
from .source_coords import AddSourceCoords

__all__ = [
    'LoadRSImageFromFile', 'CheckSegLabels', 'AddValidMask', 'MultiBranch',
    'PackSemiSegInputs', 'RandomColorJitter', 'RandomGrayscaleRGB',
    'RandomGaussianBlur', 'AddSourceCoords'
]
