from .backbones import MultiBandMobileNetV2
from .data_preprocessors import SemiSegDataPreProcessor
from .purifiers import CalibratedPurifyRule, PaperPurifyRule, PoEPurifyRule, VLMPurifyHead
from .segmentors import SemiEarthSegmentor
from .semi_methods import BaseSemiMethod, FixMatch, UniMatch, UniMatchV2
from .weight_converters import convert_torchvision_mobilenet_v2

__all__ = [
    'MultiBandMobileNetV2', 'SemiSegDataPreProcessor', 'SemiEarthSegmentor',
    'convert_torchvision_mobilenet_v2', 'VLMPurifyHead', 'PaperPurifyRule',
    'PoEPurifyRule', 'CalibratedPurifyRule', 'BaseSemiMethod', 'FixMatch', 'UniMatchV2',
    'UniMatch'
]
