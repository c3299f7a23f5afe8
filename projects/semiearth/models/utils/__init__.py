from .adaptive_threshold import SelfAdaptiveThreshold
from .cutmix import cutmix, random_cutmix_boxes
from .pseudo_label_stats import pseudo_label_stats

__all__ = ['SelfAdaptiveThreshold', 'random_cutmix_boxes', 'cutmix', 'pseudo_label_stats']
