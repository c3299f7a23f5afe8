from .loading import CheckSegLabels, LoadRSImageFromFile

__all__ = ['LoadRSImageFromFile', 'CheckSegLabels']
