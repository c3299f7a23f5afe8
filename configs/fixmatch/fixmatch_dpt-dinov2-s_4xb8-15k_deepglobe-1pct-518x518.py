# FixMatch with an EMA teacher (UniMatch-V2) on DeepGlobe Land Cover, 1 % labeled:
# DINOv2-S + DPT, 4 labeled + 4 unlabeled crops per GPU, 4 GPUs.
# Schedule: 20 epochs (the paper's LoveDA schedule; none is published for DeepGlobe) of the ~11.9k
# unlabeled crops at 16 a step (4 GPUs x 4).
_base_ = [
    '../_base_/models/fixmatch_dpt_dinov2-s.py',
    '../_base_/datasets/deepglobe_semi_518x518.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_unimatch-v2_semi.py',
]
model = dict(segmentor=dict(decode_head=dict(num_classes=6)))
train_cfg = dict(max_iters=15000, val_interval=1000)
param_scheduler = dict(end=15000)
