from .dinov2 import DINOv2LayoutError, convert_dinov2
from .torchvision_mobilenet_v2 import (convert_torchvision_mobilenet_v2,
                                       offline_mobilenet_v2_weights)

__all__ = ['convert_torchvision_mobilenet_v2', 'offline_mobilenet_v2_weights']
__all__ += ['convert_dinov2', 'DINOv2LayoutError']
