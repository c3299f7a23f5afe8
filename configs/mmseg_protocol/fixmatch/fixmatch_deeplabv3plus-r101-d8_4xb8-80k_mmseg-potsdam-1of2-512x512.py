# FixMatch with an EMA teacher on mmseg's Potsdam (its converter and split) with the zoo's
# DeepLabV3+ R101-D8 80k 512x512, 1/2 of img_dir/train labeled (docs/mmseg_zoo.md).
# Lists: python tools/dataset_converters/mmseg_splits.py data/potsdam
_base_ = '../_base_/fixmatch_deeplabv3plus-r101-d8_4xb8-80k_mmseg-potsdam-512x512.py'
train_dataloader = dict(dataset=dict(
    labeled=dict(ann_file='splits/mmseg/train_labeled_1of2.txt'),
    unlabeled=dict(ann_file='splits/mmseg/train_unlabeled_1of2.txt')))
