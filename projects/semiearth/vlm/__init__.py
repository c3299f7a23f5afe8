from .calibration import (calibrate, confusion_counts, fit_confusion, measure_confusion,
                          normalize_confusion)
from .class_names import RS_CLASS_NAMES, check_class_names, resolve_class_names
from .dense_clip import ATTENTION_TERMS, DenseCLIP, dense_attention
from .open_clip_loader import build_open_clip
from .dataset_images import DatasetImages
from .sim_feat_up import SimFeatUp, load_sim_feat_up

__all__ = ['calibrate', 'confusion_counts', 'fit_confusion', 'measure_confusion',
           'normalize_confusion', 'DatasetImages', 'RS_CLASS_NAMES', 'check_class_names', 'resolve_class_names', 'DenseCLIP',
           'ATTENTION_TERMS', 'dense_attention', 'build_open_clip', 'SimFeatUp',
           'load_sim_feat_up']
