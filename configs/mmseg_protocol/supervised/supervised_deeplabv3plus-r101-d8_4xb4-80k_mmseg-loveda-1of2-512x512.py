# Supervised (the zoo config on the labeled images only) on mmseg's LoveDA (its converter and split) with the zoo's
# DeepLabV3+ R101-D8 80k 512x512, 1/2 of img_dir/train labeled (docs/mmseg_zoo.md).
# Lists: python tools/dataset_converters/mmseg_splits.py data/loveDA
_base_ = '../_base_/supervised_deeplabv3plus-r101-d8_4xb4-80k_mmseg-loveda-512x512.py'
train_dataloader = dict(dataset=dict(ann_file='splits/mmseg/train_labeled_1of2.txt'))
