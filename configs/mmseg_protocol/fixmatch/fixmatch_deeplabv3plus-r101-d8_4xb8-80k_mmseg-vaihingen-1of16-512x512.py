# FixMatch with an EMA teacher (SemiEarthSegmentor, no purifier), 1/16 of the training images
# labeled (mmseg protocol, docs/mmseg_zoo.md), wrapping
#   mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_vaihingen-512x512.py
# Written by: python tools/misc/wrap_mmseg_config.py \
#   mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_vaihingen-512x512.py --method \
#   fixmatch --ratio 1/16 --over \
#   configs/mmseg_protocol/_base_/fixmatch_deeplabv3plus-r101-d8_4xb8-80k_mmseg-vaihingen-512x512.py \
#   --out \
#   configs/mmseg_protocol/fixmatch/fixmatch_deeplabv3plus-r101-d8_4xb8-80k_mmseg-vaihingen-1of16-512x512.py
_base_ = [
    '../_base_/fixmatch_deeplabv3plus-r101-d8_4xb8-80k_mmseg-vaihingen-512x512.py']
train_dataloader = dict(
    dataset=dict(
        labeled=dict(ann_file='splits/mmseg/train_labeled_1of16.txt'),
        unlabeled=dict(ann_file='splits/mmseg/train_unlabeled_1of16.txt')))
