from .purify_rules import CalibratedPurifyRule, PaperPurifyRule, PoEPurifyRule
from .vlm_purify_head import PurifyResult, VLMPurifyHead

__all__ = ['CalibratedPurifyRule', 'PaperPurifyRule', 'PoEPurifyRule', 'PurifyResult',
           'VLMPurifyHead']
