from .purify_rules import PaperPurifyRule, PoEPurifyRule
from .vlm_purify_head import PurifyResult, VLMPurifyHead

__all__ = ['PaperPurifyRule', 'PoEPurifyRule', 'PurifyResult', 'VLMPurifyHead']
