# UniMatch V2 + VLM-PP on LoveDA, 1 % labeled: dpt-dinov2-s
# (the model of the UniMatch V2 paper), 4 labeled + 4 unlabeled crops per GPU,
# 4 GPUs, two strong views. Schedule: 20 epochs of the ~9.9k unlabeled crops
# at 16 a step (4 GPUs x 4).
_base_ = [
    '../_base_/models/unimatch-v2-vlmpp_dpt_dinov2-s.py',
    '../_base_/datasets/loveda_semi-2strong_518x518.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_unimatch-v2_semi.py',
]
model = dict(segmentor=dict(decode_head=dict(num_classes=7)),
    purifier=dict(vlm=dict(class_names='loveda'),
                  cache_dir='data/loveda/vlm_cache/vit-b16_segearth'))
train_cfg = dict(max_iters=12000, val_interval=1000)
param_scheduler = dict(end=12000)
