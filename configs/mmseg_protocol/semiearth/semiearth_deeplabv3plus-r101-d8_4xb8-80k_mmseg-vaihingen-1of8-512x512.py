# SemiEarth (FixMatch + VLM-PP) on mmseg's Vaihingen (its converter and split) with the zoo's
# DeepLabV3+ R101-D8 80k 512x512, 1/8 of img_dir/train labeled (docs/mmseg_zoo.md).
# Lists: python tools/dataset_converters/mmseg_splits.py data/vaihingen
_base_ = '../_base_/semiearth_deeplabv3plus-r101-d8_4xb8-80k_mmseg-vaihingen-512x512.py'
train_dataloader = dict(dataset=dict(
    labeled=dict(ann_file='splits/mmseg/train_labeled_1of8.txt'),
    unlabeled=dict(ann_file='splits/mmseg/train_unlabeled_1of8.txt')))
