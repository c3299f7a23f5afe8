from .semiearth_segmentor import SemiEarthSegmentor

__all__ = ['SemiEarthSegmentor']
