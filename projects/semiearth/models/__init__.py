from .backbones import MultiBandMobileNetV2
from .weight_converters import convert_torchvision_mobilenet_v2

__all__ = ['MultiBandMobileNetV2', 'convert_torchvision_mobilenet_v2']
