from .semi_data_preprocessor import SemiSegDataPreProcessor

__all__ = ['SemiSegDataPreProcessor']
