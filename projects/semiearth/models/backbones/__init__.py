from .multiband_mobilenet_v2 import MultiBandMobileNetV2

__all__ = ['MultiBandMobileNetV2']
