# FixMatch with an EMA teacher (UniMatch-V2's framework) on NC Landsat 1/8:
# the supervised config's model, 8 labeled + 8 unlabeled tiles per batch.
_base_ = [
    '../_base_/models/fixmatch_deeplabv3plus_mobilenetv2.py',
    '../_base_/datasets/nc_landsat_semi.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_adamw_poly_semi.py',
]
model = dict(data_preprocessor={{_base_.data_preprocessor}})
# A schedule of a few hundred iterations needs a shorter EMA window than
# UniMatch-V2's 0.996 (a window of about 250 iterations): on NC Landsat val
# (seed 0, 400 iterations) the teacher had 13.9 mIoU at iteration 200 with
# 0.996 (student 18.2) and 18.0 with 0.99, ending at 20.8. Chosen on val; see
# README "Results".
custom_hooks = [dict(type='ConfigCheckHook'), dict(type='VLMEvidenceHook'),
                dict(type='EMATeacherHook', max_decay=0.99),
                dict(type='StepRNGHook')]
