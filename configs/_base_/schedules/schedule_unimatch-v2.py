# UniMatch-V2's optimiser (as its released configs): AdamW, lr 5e-6 for the pretrained
# backbone and x40 for the head, weight decay 0.01, poly decay (power 0.9).
# The lr is for 4 GPUs; with another GPU count keep the per-GPU batch and
# scale lr linearly (docs/training.md, "GPUs"). Leaves set the length: train_cfg =
# dict(max_iters=N, val_interval=M) and param_scheduler = dict(end=N).
_base_ = ['./schedule_adamw_poly.py']
optim_wrapper = dict(
    optimizer=dict(lr=5e-6),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=40.0)}))
default_hooks = dict(checkpoint=dict(interval=1000))
