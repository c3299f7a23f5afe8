# fixmatch_dpt-dinov2-s_4xb8-10k_potsdam-1pct-518x518 with DeepLabV3+ R101-D8 as the segmentor
# (the backbone is the one line that changes in _base_; the optimiser follows
# the backbone).
_base_ = [
    '../_base_/models/fixmatch_deeplabv3plus_r101-d8.py',
    '../_base_/datasets/potsdam_semi_518x518.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_sgd-poly_semi.py',
]
model = dict(segmentor=dict(decode_head=dict(num_classes=5), auxiliary_head=dict(num_classes=5)))
train_cfg = dict(max_iters=10000, val_interval=1000)
param_scheduler = dict(end=10000)
