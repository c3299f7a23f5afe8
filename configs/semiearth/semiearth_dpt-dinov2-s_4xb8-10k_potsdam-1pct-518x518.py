# SemiEarth on Potsdam, 1 % labeled: the FixMatch config plus
# VLM-PP (SegEarth-OV dense CLIP ViT-B/16). Its evidence is cached as
# training first meets each image; to pay that up front instead:
#   python tools/precompute_vlm.py THIS_CONFIG
# Schedule: 50 epochs of the ~3.2k unlabeled crops at 16 a step (4 GPUs x 4).
_base_ = [
    '../_base_/models/semiearth_dpt_dinov2-s.py',
    '../_base_/datasets/potsdam_semi_518x518.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_unimatch-v2_semi.py',
]
model = dict(
    segmentor=dict(decode_head=dict(num_classes=5)),
    purifier=dict(vlm=dict(class_names='potsdam'),
                  cache_dir='data/potsdam/vlm_cache/vit-b16_segearth'))
train_cfg = dict(max_iters=10000, val_interval=1000)
param_scheduler = dict(end=10000)
