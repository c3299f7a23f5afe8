# UniMatch on LoveDA, 1 % labeled: deeplabv3plus-r101-d8
# (the model of the UniMatch paper), 4 labeled + 4 unlabeled crops per GPU,
# 4 GPUs, two strong views. Schedule: 20 epochs of the ~9.9k unlabeled crops
# at 16 a step (4 GPUs x 4).
_base_ = [
    '../_base_/models/unimatch_deeplabv3plus_r101-d8.py',
    '../_base_/datasets/loveda_semi-2strong_518x518.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_sgd-poly_semi.py',
]
model = dict(
    segmentor=dict(decode_head=dict(num_classes=7), auxiliary_head=dict(num_classes=7)))
# UniMatch has no teacher: the online model (student) is the one kept
default_hooks = dict(checkpoint=dict(save_best='student/mIoU'))
train_cfg = dict(max_iters=12000, val_interval=1000)
param_scheduler = dict(end=12000)
