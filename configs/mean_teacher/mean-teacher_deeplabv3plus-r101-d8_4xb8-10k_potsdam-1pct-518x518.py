# Mean Teacher with CutMix on Potsdam, 1 % labeled: deeplabv3plus-r101-d8,
# 4 labeled + 4 unlabeled crops per GPU, 4 GPUs. Schedule: 50 epochs of the
# ~3.2k unlabeled crops at 16 a step (4 GPUs x 4), as the UniMatch configs.
_base_ = [
    '../_base_/models/semi_mean-teacher_deeplabv3plus_r101-d8.py',
    '../_base_/datasets/potsdam_semi_518x518.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_sgd-poly_semi.py',
]
model = dict(
    segmentor=dict(decode_head=dict(num_classes=5), auxiliary_head=dict(num_classes=5)))
# the anchor's EMA decay (teacher_alpha 0.99)
custom_hooks = [dict(type='ConfigCheckHook'), dict(type='VLMEvidenceHook'),
                dict(type='EMATeacherHook', max_decay=0.99),
                dict(type='StepRNGHook')]
train_cfg = dict(max_iters=10000, val_interval=1000)
param_scheduler = dict(end=10000)
