# Supervised baseline: DINOv2-S + DPT trained on the labeled 1/8 of Vaihingen
# only (4 crops per GPU, 4 GPUs).
# Schedule: our choice (the LSST and WSCL papers, which use Vaihingen 1/8, state none).
_base_ = [
    '../_base_/models/dpt_dinov2-s.py',
    '../_base_/datasets/vaihingen_518x518.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_unimatch-v2.py',
]
model = dict(decode_head=dict(num_classes=6))
train_dataloader = dict(dataset=dict(ann_file='splits/train_labeled_1of8.txt'))
train_cfg = dict(max_iters=4000, val_interval=1000)
param_scheduler = dict(end=4000)
