from .dinov2_vit import DINOv2ViT
from .multiband_mobilenet_v2 import MultiBandMobileNetV2

__all__ = ['MultiBandMobileNetV2']
__all__ += ['DINOv2ViT']
