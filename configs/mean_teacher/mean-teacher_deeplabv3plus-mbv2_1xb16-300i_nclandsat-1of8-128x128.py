# Mean Teacher with CutMix on NC Landsat 1/8: the quick-start model
# (DeepLabV3+ / MobileNetV2), 8 labeled + 8 unlabeled tiles per batch.
_base_ = [
    '../_base_/models/semi_mean-teacher_deeplabv3plus_mobilenetv2.py',
    '../_base_/datasets/nc_landsat_semi.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_adamw_poly_semi.py',
]
model = dict(data_preprocessor={{_base_.data_preprocessor}})
# the anchor's EMA decay (teacher_alpha 0.99), also the FixMatch NC config's
custom_hooks = [dict(type='ConfigCheckHook'), dict(type='VLMEvidenceHook'),
                dict(type='EMATeacherHook', max_decay=0.99),
                dict(type='StepRNGHook')]
