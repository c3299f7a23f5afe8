# UniMatch-V2's segmentation model: DINOv2 ViT-S/14 + DPT head (features 64,
# out_channels [48, 96, 192, 384]) reading blocks 2, 5, 8, 11 after the final
# norm. RGB input, ImageNet mean/std, 518 x 518 training crops.
#
# Weights: python tools/model_converters/dinov2_to_mmseg.py \
#              dinov2_vits14_pretrain.pth checkpoints/dinov2_vits14_mmseg.pth
#
# Head: mmseg's own DPTHead. It takes the backbone's [map, cls_token] pairs
# (output_cls_token=True; readout 'ignore' leaves the class token unused, as
# UniMatch-V2 does) and has UniMatch-V2's layers: 1x1 projections to
# post_process_channels, resize by x4 / x2 / x1 / stride-2 conv, 3x3
# bias-free convs to `channels`, four fusion blocks, 3x3 conv + ReLU, 1x1
# classifier. norm_cfg=None and dropout 0 match UniMatch-V2 (use_bn=False, no
# dropout), so no project-specific head is needed. Known differences from
# UniMatch-V2's head: mmseg's residual-unit convs have no bias (896 fewer
# parameters for S); a fusion block upsamples x2 and resizes the skip feature
# to that size (UniMatch-V2 resizes the path to the skip's size), so at 518
# the logits are 304 x 304 instead of 296 x 296 before the final resize to the
# label size; that final resize uses align_corners=False (UniMatch-V2: True).
# UniMatch-V2's complementary feature dropout (comp_drop) belongs to the
# semi-supervised segmentor, not to this model.
#
# Evaluation: UniMatch-V2's sliding window, 518 crops at stride
# int(518 * 2 / 3) = 345; test images are zero-padded (after normalisation) to
# a multiple of 14 by the data preprocessor, and the padding is cropped off
# the prediction, so a 512 x 512 tile runs as one 518 x 518 window.
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=(518, 518),
        test_cfg=dict(size_divisor=14)),
    backbone=dict(
        type='DINOv2ViT',
        arch='s',
        img_size=518,
        patch_size=14,
        out_indices=(2, 5, 8, 11),
        output_cls_token=True,
        drop_path_rate=0.0,
        frozen_stages=-1,
        init_cfg=dict(type='Pretrained',
                      checkpoint='checkpoints/dinov2_vits14_mmseg.pth',
                      prefix='backbone.')),
    decode_head=dict(
        type='DPTHead',
        in_channels=(384, 384, 384, 384),
        in_index=(0, 1, 2, 3),
        input_transform='multiple_select',
        embed_dims=384,
        post_process_channels=[48, 96, 192, 384],
        channels=64,
        readout_type='ignore',
        patch_size=14,
        expand_channels=False,
        act_cfg=dict(type='ReLU'),
        norm_cfg=None,
        dropout_ratio=0.0,
        num_classes=6,
        align_corners=False,
        # mean over the labeled (non-ignored) pixels, as UniMatch-V2's
        # nn.CrossEntropyLoss(ignore_index=255); mmseg's default averages
        # over all pixels, scaling the loss by the batch's valid share
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                         loss_weight=1.0, avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(518, 518), stride=(345, 345)))
