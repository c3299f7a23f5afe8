# supervised_dpt-dinov2-s_4xb4-10k_potsdam-1pct-518x518 with DeepLabV3+ R101-D8 as the segmentor
# (the backbone is the one line that changes in _base_; the optimiser follows
# the backbone).
_base_ = [
    '../_base_/models/deeplabv3plus_r101-d8.py',
    '../_base_/datasets/potsdam_518x518.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_unimatch-v2.py',
]
model = dict(decode_head=dict(num_classes=5), auxiliary_head=dict(num_classes=5))
train_dataloader = dict(dataset=dict(ann_file='splits/train_labeled_1pct.txt'))
# mmseg's DeepLabV3+ recipe (SGD, lr 0.01, poly), comparable with its zoo
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4))
train_cfg = dict(max_iters=10000, val_interval=1000)
param_scheduler = dict(end=10000)
