# semiearth_dpt-dinov2-s_4xb8-10k_potsdam-1pct-518x518 with DeepLabV3+ R101-D8 as the segmentor
# (the backbone is the one line that changes in _base_; the optimiser follows
# the backbone).
_base_ = [
    '../_base_/models/semiearth_deeplabv3plus_r101-d8.py',
    '../_base_/datasets/potsdam_semi_518x518.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_unimatch-v2_semi.py',
]
model = dict(
    segmentor=dict(decode_head=dict(num_classes=5), auxiliary_head=dict(num_classes=5)),
    purifier=dict(vlm=dict(class_names='potsdam'),
                  cache_dir='data/potsdam/vlm_cache/vit-b16_segearth'))
# mmseg's DeepLabV3+ recipe (SGD, lr 0.01, poly), comparable with its zoo
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4))
train_cfg = dict(max_iters=10000, val_interval=1000)
param_scheduler = dict(end=10000)
