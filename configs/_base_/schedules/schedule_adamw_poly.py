# AdamW with a 10x learning rate on the freshly initialised decode head and
# poly decay, iteration based. Children set `max_iters`/`val_interval` through
# train_cfg and `param_scheduler.end` (see the schedule_*.py files).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}))
# one scheduler as a dict (not a list) so that a child sets its length by
# key: param_scheduler = dict(end=N)
param_scheduler = dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=300,
                       by_epoch=False)
# every config checks its model's classes against its datasets' (schedules
# own custom_hooks: the semi ones replace this list and keep the check)
custom_hooks = [dict(type='ConfigCheckHook'), dict(type='StepRNGHook')]
# MMEngine's loop, plus: a run resumed after its last iteration still runs
# the final validation it owes (and, with SemiSampler, skips ahead)
train_cfg = dict(type='SkipAheadIterBasedTrainLoop', max_iters=300, val_interval=100)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=100,
                    max_keep_ckpts=1, save_best='mIoU', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
    # stop at the first NaN / inf loss, naming the iteration and the files
    non_finite_loss=dict(type='NonFiniteLossHook'))
