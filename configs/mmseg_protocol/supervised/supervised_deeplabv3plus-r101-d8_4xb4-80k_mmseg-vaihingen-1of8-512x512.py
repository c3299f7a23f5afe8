# Supervised (the config itself, labeled images only), 1/8 of the training images
# labeled (mmseg protocol, docs/mmseg_zoo.md), wrapping
#   mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_vaihingen-512x512.py
# Written by: python tools/misc/wrap_mmseg_config.py \
#   mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_vaihingen-512x512.py --method \
#   supervised --ratio 1/8 --over \
#   configs/mmseg_protocol/_base_/supervised_deeplabv3plus-r101-d8_4xb4-80k_mmseg-vaihingen-512x512.py \
#   --out \
#   configs/mmseg_protocol/supervised/supervised_deeplabv3plus-r101-d8_4xb4-80k_mmseg-vaihingen-1of8-512x512.py
_base_ = [
    '../_base_/supervised_deeplabv3plus-r101-d8_4xb4-80k_mmseg-vaihingen-512x512.py']
train_dataloader = dict(dataset=dict(ann_file='splits/mmseg/train_labeled_1of8.txt'))
