# UniMatch V2 on NC Landsat 1/8: the quick-start model (DeepLabV3+ /
# MobileNetV2), 8 labeled + 8 unlabeled tiles per batch, two strong views.
_base_ = [
    '../_base_/models/unimatch-v2_deeplabv3plus_mobilenetv2.py',
    '../_base_/datasets/nc_landsat_semi-2strong.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_adamw_poly_semi.py',
]
model = dict(data_preprocessor={{_base_.data_preprocessor}})
# the FixMatch NC config's shorter EMA window (see its comment)
custom_hooks = [dict(type='ConfigCheckHook'), dict(type='VLMEvidenceHook'),
                dict(type='EMATeacherHook', max_decay=0.99),
                dict(type='StepRNGHook')]
