# Supervised baseline: DINOv2-S + DPT trained on the labeled 1 % of DeepGlobe Land Cover
# only (4 crops per GPU, 4 GPUs).
# Schedule: 20 epochs (the paper's LoveDA schedule; none is published for DeepGlobe) of the ~11.9k
# unlabeled crops at 16 a step (4 GPUs x 4).
_base_ = [
    '../_base_/models/dpt_dinov2-s.py',
    '../_base_/datasets/deepglobe_518x518.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_unimatch-v2.py',
]
model = dict(decode_head=dict(num_classes=6))
train_dataloader = dict(dataset=dict(ann_file='splits/train_labeled_1pct.txt'))
train_cfg = dict(max_iters=15000, val_interval=1000)
param_scheduler = dict(end=15000)
