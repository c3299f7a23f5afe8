from .dwl_weighting import (DWLWeighting, bin_weights, downsample_nearest, dwl_unsup_loss,
                            sample_bins)
from .mean_teacher_consistency import (MeanTeacherConsistencyLoss, confidence_mask,
                                       consistency_loss, sigmoid_rampup)

__all__ = [
    'DWLWeighting', 'bin_weights', 'downsample_nearest', 'dwl_unsup_loss', 'sample_bins',
    'MeanTeacherConsistencyLoss', 'confidence_mask', 'consistency_loss', 'sigmoid_rampup'
]
