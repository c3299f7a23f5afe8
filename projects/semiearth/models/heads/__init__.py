from .pseudo_classifier import (PSEUDO_KEY, DualConvSeg, attach_pseudo_classifier,
                                drop_pseudo_classifier_keys, dual_classifiers, forward_dual,
                                merge_pseudo_classifiers, strip_pseudo_classifiers)

__all__ = [
    'PSEUDO_KEY', 'DualConvSeg', 'attach_pseudo_classifier', 'drop_pseudo_classifier_keys',
    'dual_classifiers', 'forward_dual', 'merge_pseudo_classifiers', 'strip_pseudo_classifiers'
]
