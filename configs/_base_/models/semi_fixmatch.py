# The semi-supervised step's settings, every key spelled out (as mmdet's
# semi configs do): FixMatch with an EMA teacher, UniMatch-V2's values.
# SemiEarthSegmentor keeps the same values as defaults (DEFAULT_TRAIN_CFG)
# and rejects unknown keys; a test keeps this file and those defaults equal.
semi_method = dict(type='FixMatch')
semi_train_cfg = dict(
    sup_weight=0.5,              # UniMatch-V2: (L_sup + L_unsup) / 2
    unsup_weight=0.5,            # the whole unsupervised part; a method with
                                 # several terms splits it (its own weights)
    conf_thresh=0.95,            # pseudo-labels with max softmax >= this
    adaptive_thresh=None,        # dict(decay=0.99): class-wise self-adaptive
                                 # thresholds (FreeMatch) instead
    cutmix_prob=0.5,             # per unlabeled image and strong view
    cutmix_area=(0.02, 0.4),     # box area, share of the image
    cutmix_ratio=(0.3, 1 / 0.3),  # box aspect ratio
)
semi_test_cfg = dict(predict_on='teacher')
