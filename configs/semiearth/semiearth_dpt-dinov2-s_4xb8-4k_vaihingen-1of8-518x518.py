# SemiEarth on Vaihingen, 1/8 labeled: the FixMatch config plus
# VLM-PP (SegEarth-OV dense CLIP ViT-B/16). Its evidence is cached as
# training first meets each image; to pay that up front instead:
#   python tools/precompute_vlm.py THIS_CONFIG
# Schedule: our choice (the LSST and WSCL papers, which use Vaihingen 1/8, state none).
_base_ = [
    '../_base_/models/semiearth_dpt_dinov2-s.py',
    '../_base_/datasets/vaihingen_semi_518x518.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_unimatch-v2_semi.py',
]
model = dict(
    segmentor=dict(decode_head=dict(num_classes=6)),
    purifier=dict(vlm=dict(class_names='vaihingen'),
                  cache_dir='data/vaihingen/vlm_cache/vit-b16_segearth'))
train_cfg = dict(max_iters=4000, val_interval=1000)
param_scheduler = dict(end=4000)
