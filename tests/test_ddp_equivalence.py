"""DDP is the same training: 2 gloo processes with half the batch each end
where 1 process with the whole batch ends, supervised and unsupervised paths
both exercised, and the logged losses are the mean over ranks."""
import os

import torch
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

C, S, STEPS = 4, 32, 3
# A segmentor without batch norm (SyncBN needs CUDA): MiT stages + an FCN
# head with no norm, no dropout, no drop path.
SEGMENTOR = dict(
    type='EncoderDecoder',
    backbone=dict(type='MixVisionTransformer', in_channels=3, embed_dims=8, num_stages=4,
                  num_layers=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], patch_sizes=[7, 3, 3, 3],
                  sr_ratios=[8, 4, 2, 1], out_indices=(3,), mlp_ratio=2, drop_rate=0.0,
                  attn_drop_rate=0.0, drop_path_rate=0.0),
    decode_head=dict(type='FCNHead', in_channels=8, in_index=0, channels=8, num_convs=1,
                     concat_input=False, dropout_ratio=0.0, num_classes=C, norm_cfg=None,
                     align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True)),
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[128.0] * 3, std=[64.0] * 3,
                           pad_val=0, seg_pad_val=255, size=(S, S)),
    train_cfg=dict(), test_cfg=dict(mode='whole'))


def _model():
    torch.manual_seed(0)
    model = MODELS.build(dict(type='SemiEarthSegmentor', segmentor=SEGMENTOR,
                              semi_train_cfg=dict(conf_thresh=0.5, cutmix_prob=0.0)))
    model.init_weights()
    with torch.no_grad():  # confident enough for pseudo-labels to pass from step 1
        model.student.decode_head.conv_seg.weight.mul_(100)
    model.teacher.load_state_dict(model.student.state_dict())
    return model


def _sample(gt=None):
    s = SegDataSample()
    s.set_metainfo(dict(img_shape=(S, S), ori_shape=(S, S)))
    if gt is not None:
        s.gt_sem_seg = PixelData(data=gt)
    return s


def _batch(indices):
    """The batch of samples ``indices`` (of 4 labeled + 4 unlabeled), in the
    dataloader's layout; labels without ignore pixels, so that every rank's
    loss has the same number of valid pixels."""
    g = torch.Generator().manual_seed(7)
    imgs = torch.randint(0, 256, (8, 3, S, S), generator=g, dtype=torch.uint8)
    gts = torch.randint(0, C, (8, 1, S, S), generator=g)
    strong = (imgs.float() * 0.8 + 20).to(torch.uint8)
    inputs = {'sup': [], 'unsup_weak': [], 'unsup_strong': []}
    samples = {'sup': [], 'unsup_weak': [], 'unsup_strong': []}
    for i in indices:
        lab = i < 4
        inputs['sup'].append(imgs[i] if lab else None)
        samples['sup'].append(_sample(gts[i]) if lab else None)
        inputs['unsup_weak'].append(None if lab else imgs[i])
        samples['unsup_weak'].append(None if lab else _sample(gts[i]))
        inputs['unsup_strong'].append(None if lab else strong[i])
        samples['unsup_strong'].append(None if lab else _sample())
    return dict(inputs=inputs, data_samples=samples)


def _train(model, indices, wrap=None):
    """STEPS iterations of SGD + EMA on the batch ``indices``; the logged
    values of each step and the final state dict."""
    from mmengine.optim import OptimWrapper
    from semiearth.engine import EMATeacherHook
    net = wrap(model) if wrap else model
    optim = OptimWrapper(torch.optim.SGD(model.student.parameters(), lr=0.05, momentum=0.9))
    ema = EMATeacherHook()
    logs = []
    for step in range(STEPS):
        model.train()
        log = net.train_step(_batch(indices), optim)
        logs.append({k: float(v) for k, v in log.items()})
        ema.ema_update(model.teacher, model.student, ema.decay_at(step))
    return logs, {k: v.detach().clone() for k, v in model.state_dict().items()}


def _rank(rank, world, port, out):
    import semiearth  # noqa: F401  (a spawned process starts bare)
    from mmengine.model import MMDistributedDataParallel
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.distributed.init_process_group('gloo', rank=rank, world_size=world)
    torch.set_num_threads(1)
    # rank r: labeled samples 2r, 2r+1 and unlabeled 4+2r, 5+2r
    mine = [2 * rank, 2 * rank + 1, 4 + 2 * rank, 5 + 2 * rank]
    logs, state = _train(_model(), mine, wrap=lambda m: MMDistributedDataParallel(m))
    torch.save(dict(logs=logs, state=state), f'{out}/{rank}.pt')
    torch.distributed.destroy_process_group()


def test_two_ranks_with_half_batches_equal_one_process(tmp_path):
    torch.set_num_threads(1)
    logs, state = _train(_model(), [0, 1, 4, 5, 2, 3, 6, 7])
    # the unsupervised path runs: pixels pass the threshold, the loss is not 0
    assert all(0.1 < log['pseudo.mask_ratio'] < 1 for log in logs)
    assert all(log['unsup.loss_ce'] > 0 for log in logs)
    torch.multiprocessing.spawn(_rank, nprocs=2, join=True, args=(2, 29671, str(tmp_path)))
    ranks = [torch.load(tmp_path / f'{r}.pt', weights_only=False) for r in range(2)]
    for r in ranks:
        for key, value in state.items():
            torch.testing.assert_close(r['state'][key], value, atol=1e-5, rtol=1e-5,
                                       msg=lambda m, k=key: f'{k}: {m}')
    # logged: the mean over ranks, the same on each rank, = the one-process value
    for step in range(STEPS):
        for key in ('loss', 'sup.loss_ce', 'unsup.loss_ce', 'pseudo.mask_ratio'):
            assert ranks[0]['logs'][step][key] == ranks[1]['logs'][step][key]
            assert abs(ranks[0]['logs'][step][key] - logs[step][key]) < 1e-5, (step, key)
