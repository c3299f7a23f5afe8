# SemiEarth on LoveDA, 1 % labeled: the FixMatch config plus
# VLM-PP (SegEarth-OV dense CLIP ViT-B/16). Its evidence is cached as
# training first meets each image; to pay that up front instead:
#   python tools/precompute_vlm.py THIS_CONFIG
# Schedule: 20 epochs of the ~9.9k unlabeled crops at 16 a step (4 GPUs x 4).
_base_ = [
    '../_base_/models/semiearth_dpt_dinov2-s.py',
    '../_base_/datasets/loveda_semi_518x518.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_unimatch-v2_semi.py',
]
model = dict(
    segmentor=dict(decode_head=dict(num_classes=7)),
    # SegEarth-OV's background rule for LoveDA: 'background' where the
    # VLM's max probability is under 0.3
    purifier=dict(vlm=dict(class_names='loveda', bg_thresh=0.3, bg_class=0),
                  cache_dir='data/loveda/vlm_cache/vit-b16_segearth'))
train_cfg = dict(max_iters=12000, val_interval=1000)
param_scheduler = dict(end=12000)
