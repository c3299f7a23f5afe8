# DWL on Potsdam, 1 % labeled: deeplabv3plus-r101-d8 (the model of the DWL
# paper), 4 labeled + 4 unlabeled crops per GPU, 4 GPUs.
# Schedule: 50 epochs of the ~3.2k unlabeled crops
# at 16 a step (4 GPUs x 4), as the UniMatch configs.
_base_ = [
    '../_base_/models/semi_dwl_deeplabv3plus_r101-d8.py',
    '../_base_/datasets/potsdam_semi_518x518.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_sgd-poly_semi.py',
]
model = dict(
    segmentor=dict(decode_head=dict(num_classes=5), auxiliary_head=dict(num_classes=5)))
# DWL's classifier merge once per pass over the unlabeled set (alpha 0.5,
# the anchor's DeepLabV3+ value)
custom_hooks = [dict(type='ConfigCheckHook'), dict(type='VLMEvidenceHook'),
                dict(type='EMATeacherHook', max_decay=0.996),
                dict(type='ClassifierMergeHook', alpha=0.5, interval=None),
                dict(type='StepRNGHook')]
# DWL has no teacher: the online model (student) is the one kept
default_hooks = dict(checkpoint=dict(save_best='student/mIoU'))
train_cfg = dict(max_iters=10000, val_interval=1000)
param_scheduler = dict(end=10000)
