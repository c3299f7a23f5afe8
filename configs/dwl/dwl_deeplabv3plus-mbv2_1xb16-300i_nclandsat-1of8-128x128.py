# DWL on NC Landsat 1/8: the quick-start model (DeepLabV3+ / MobileNetV2),
# 8 labeled + 8 unlabeled tiles per batch, one strong view.
_base_ = [
    '../_base_/models/semi_dwl_deeplabv3plus_mobilenetv2.py',
    '../_base_/datasets/nc_landsat_semi.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_adamw_poly_semi.py',
]
model = dict(data_preprocessor={{_base_.data_preprocessor}})
# the FixMatch NC config's shorter EMA window (see its comment); DWL's
# classifier merge once per pass over the unlabeled set (alpha 0.5, the
# anchor's DeepLabV3+ value)
custom_hooks = [dict(type='ConfigCheckHook'), dict(type='VLMEvidenceHook'),
                dict(type='EMATeacherHook', max_decay=0.99),
                dict(type='ClassifierMergeHook', alpha=0.5, interval=None),
                dict(type='StepRNGHook')]
# DWL has no teacher: the online model (student) is the one kept
default_hooks = dict(checkpoint=dict(save_best='student/mIoU'))
