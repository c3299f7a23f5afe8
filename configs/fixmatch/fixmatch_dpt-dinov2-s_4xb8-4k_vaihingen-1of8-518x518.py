# FixMatch with an EMA teacher (UniMatch-V2) on Vaihingen, 1/8 labeled:
# DINOv2-S + DPT, 4 labeled + 4 unlabeled crops per GPU, 4 GPUs.
# Schedule: our choice (the LSST and WSCL papers, which use Vaihingen 1/8, state none).
_base_ = [
    '../_base_/models/fixmatch_dpt_dinov2-s.py',
    '../_base_/datasets/vaihingen_semi_518x518.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_unimatch-v2_semi.py',
]
model = dict(segmentor=dict(decode_head=dict(num_classes=6)))
train_cfg = dict(max_iters=4000, val_interval=1000)
param_scheduler = dict(end=4000)
