# SemiEarth on DeepGlobe Land Cover, 1 % labeled: the FixMatch config plus
# VLM-PP (SegEarth-OV dense CLIP ViT-B/16). Its evidence is cached as
# training first meets each image; to pay that up front instead:
#   python tools/precompute_vlm.py THIS_CONFIG
# Schedule: 20 epochs (the paper's LoveDA schedule; none is published for DeepGlobe) of the ~11.9k
# unlabeled crops at 16 a step (4 GPUs x 4).
_base_ = [
    '../_base_/models/semiearth_dpt_dinov2-s.py',
    '../_base_/datasets/deepglobe_semi_518x518.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_unimatch-v2_semi.py',
]
model = dict(
    segmentor=dict(decode_head=dict(num_classes=6)),
    purifier=dict(vlm=dict(class_names='deepglobe'),
                  cache_dir='data/deepglobe/vlm_cache/vit-b16_segearth'))
train_cfg = dict(max_iters=15000, val_interval=1000)
param_scheduler = dict(end=15000)
