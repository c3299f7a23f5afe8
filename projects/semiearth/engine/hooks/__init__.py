from .classifier_merge_hook import ClassifierMergeHook
from .config_check_hook import ConfigCheckHook
from .ema_teacher_hook import EMATeacherHook
from .non_finite_loss_hook import NonFiniteLossHook
from .safe_checkpoint_hook import SafeCheckpointHook
from .step_rng_hook import StepRNGHook
from .vlm_evidence_hook import VLMEvidenceHook

__all__ = ['ClassifierMergeHook', 'EMATeacherHook', 'ConfigCheckHook', 'NonFiniteLossHook',
           'SafeCheckpointHook', 'StepRNGHook', 'VLMEvidenceHook']
