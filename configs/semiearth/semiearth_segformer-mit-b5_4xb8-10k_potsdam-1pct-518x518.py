# semiearth_dpt-dinov2-s_4xb8-10k_potsdam-1pct-518x518 with SegFormer MiT-B5 as the segmentor
# (the backbone is the one line that changes in _base_; the optimiser follows
# the backbone).
_base_ = [
    '../_base_/models/semiearth_segformer_mit-b5.py',
    '../_base_/datasets/potsdam_semi_518x518.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_unimatch-v2_semi.py',
]
model = dict(
    segmentor=dict(decode_head=dict(num_classes=5)),
    purifier=dict(vlm=dict(class_names='potsdam'),
                  cache_dir='data/potsdam/vlm_cache/vit-b16_segearth'))
# mmseg's SegFormer recipe (AdamW 6e-5, head x10, no decay on norms)
optim_wrapper = dict(
    optimizer=dict(lr=6e-5),
    paramwise_cfg=dict(_delete_=True, custom_keys={
        'pos_block': dict(decay_mult=0.0),
        'norm': dict(decay_mult=0.0),
        'head': dict(lr_mult=10.0)}))
train_cfg = dict(max_iters=10000, val_interval=1000)
param_scheduler = dict(end=10000)
