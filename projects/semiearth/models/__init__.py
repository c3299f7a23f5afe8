from .backbones import MultiBandMobileNetV2
from .data_preprocessors import SemiSegDataPreProcessor
from .heads import (DualConvSeg, attach_pseudo_classifier, drop_pseudo_classifier_keys,
                    forward_dual, merge_pseudo_classifiers, strip_pseudo_classifiers)
from .losses import DWLWeighting, MeanTeacherConsistencyLoss
from .purifiers import CalibratedPurifyRule, PaperPurifyRule, PoEPurifyRule, VLMPurifyHead
from .segmentors import SemiEarthSegmentor
from .semi_methods import DWL, BaseSemiMethod, FixMatch, MeanTeacher, UniMatch, UniMatchV2
from .weight_converters import convert_torchvision_mobilenet_v2

__all__ = [
    'MultiBandMobileNetV2', 'SemiSegDataPreProcessor', 'SemiEarthSegmentor',
    'convert_torchvision_mobilenet_v2', 'VLMPurifyHead', 'PaperPurifyRule',
    'PoEPurifyRule', 'CalibratedPurifyRule', 'BaseSemiMethod', 'FixMatch', 'UniMatchV2',
    'UniMatch', 'DWL', 'MeanTeacher', 'DWLWeighting', 'MeanTeacherConsistencyLoss',
    'DualConvSeg', 'attach_pseudo_classifier', 'drop_pseudo_classifier_keys', 'forward_dual',
    'merge_pseudo_classifiers', 'strip_pseudo_classifiers'
]
