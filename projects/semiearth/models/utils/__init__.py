from .adaptive_threshold import SelfAdaptiveThreshold
from .cutmix import cutmix, random_cutmix_boxes
from .feature_perturbation import (cat_features, channel_dropout,
                                   complementary_channel_dropout, map_features, take_batch)
from .pseudo_label_stats import pseudo_label_stats

__all__ = [
    'SelfAdaptiveThreshold', 'random_cutmix_boxes', 'cutmix', 'pseudo_label_stats',
    'map_features', 'take_batch', 'cat_features', 'channel_dropout',
    'complementary_channel_dropout'
]
