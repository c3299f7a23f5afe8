from .purify_rules import (CalibratedPurifyRule, PaperPurifyRule, PoEPurifyRule,
                           confusion_counts, fit_confusion, normalize_confusion)
from .vlm_purify_head import PurifyResult, VLMPurifyHead

__all__ = ['CalibratedPurifyRule', 'confusion_counts', 'fit_confusion', 'normalize_confusion', 'PaperPurifyRule', 'PoEPurifyRule',
           'PurifyResult', 'VLMPurifyHead']
