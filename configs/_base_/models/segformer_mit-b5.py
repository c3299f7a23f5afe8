# SegFormer with a MiT-B5 encoder, as mmseg's, at the zoo's 518 crops.
# Weights: the ImageNet MiT-B5 converted to mmseg's layout (mmseg's
# tools/model_converters/mit2mmseg.py) at checkpoints/mit_b5_mmseg.pth.
_base_ = ['mmseg::_base_/models/segformer_mit-b0.py']
model = dict(
    data_preprocessor=dict(size=(518, 518)),
    backbone=dict(embed_dims=64, num_layers=[3, 6, 40, 3], init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/mit_b5_mmseg.pth')),
    # cross-entropy as a mean over labeled (non-ignored) pixels, as
    # UniMatch-V2 (mmseg's default averages over all pixels)
    decode_head=dict(in_channels=[64, 128, 320, 512],
                     loss_decode=dict(avg_non_ignore=True)))
