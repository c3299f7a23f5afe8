# SemiEarth (FixMatch + VLM-PP purified pseudo-labels), 1/2 of the training images
# labeled (mmseg protocol, docs/mmseg_zoo.md), wrapping
#   mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_potsdam-512x512.py
# Written by: python tools/misc/wrap_mmseg_config.py \
#   mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_potsdam-512x512.py --method \
#   semiearth --ratio 1/2 --over \
#   configs/mmseg_protocol/_base_/semiearth_deeplabv3plus-r101-d8_4xb8-80k_mmseg-potsdam-512x512.py \
#   --out \
#   configs/mmseg_protocol/semiearth/semiearth_deeplabv3plus-r101-d8_4xb8-80k_mmseg-potsdam-1of2-512x512.py
_base_ = ['../_base_/semiearth_deeplabv3plus-r101-d8_4xb8-80k_mmseg-potsdam-512x512.py']
train_dataloader = dict(
    dataset=dict(
        labeled=dict(ann_file='splits/mmseg/train_labeled_1of2.txt'),
        unlabeled=dict(ann_file='splits/mmseg/train_unlabeled_1of2.txt')))
