# DeepLabV3+ on an ImageNet MobileNetV2 at output stride 16, low-level
# features from stride 4 (layer2, 24 channels). The first conv takes as many
# input bands as the checkpoint made by
# tools/model_converters/mobilenetv2_torchvision2mmseg.py (--in-channels).
norm_cfg = dict(type='BN', requires_grad=True)
pretrained_backbone = 'checkpoints/mobilenet_v2_imagenet_ms6.pth'
model = dict(
    type='EncoderDecoder',
    backbone=dict(
        type='MultiBandMobileNetV2',
        in_channels=6,
        widen_factor=1.0,
        strides=(1, 2, 2, 2, 1, 1, 1),
        dilations=(1, 1, 1, 1, 1, 2, 2),
        out_indices=(1, 6),
        norm_cfg=norm_cfg,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_backbone,
                      prefix='backbone.')),
    decode_head=dict(
        type='DepthwiseSeparableASPPHead',
        in_channels=320,
        in_index=1,
        channels=128,
        dilations=(1, 2, 4, 6),
        c1_in_channels=24,
        c1_channels=48,
        dropout_ratio=0.1,
        num_classes=6,
        norm_cfg=norm_cfg,
        align_corners=False,
        # mean over the labeled (non-ignored) pixels, as UniMatch-V2's
        # nn.CrossEntropyLoss(ignore_index=255); mmseg's default averages
        # over all pixels, scaling the loss by the batch's valid share
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                         loss_weight=1.0, avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
