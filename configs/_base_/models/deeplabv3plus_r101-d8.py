# DeepLabV3+ on ResNet-101-D8 (V1c): the LSST / WSCL / UniMatch protocol
# model, as mmseg's, at the zoo's 518 crops. Weights: the ImageNet ResNet-101
# V1c of mmseg's model zoo (resnet101_v1c-e67eebb6.pth, open-mmlab://
# resnet101_v1c) saved as checkpoints/resnet101_v1c.pth; nothing is
# downloaded. Leaves set num_classes of both heads.
_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py']
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=(518, 518)),
    backbone=dict(depth=101, init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/resnet101_v1c.pth')),
    # cross-entropy as a mean over labeled (non-ignored) pixels, as
    # UniMatch-V2; mmseg's default (avg_non_ignore=False) averages over all
    # pixels and so scales the loss by the batch's valid share
    decode_head=dict(loss_decode=dict(avg_non_ignore=True)),
    auxiliary_head=dict(loss_decode=dict(avg_non_ignore=True)))
