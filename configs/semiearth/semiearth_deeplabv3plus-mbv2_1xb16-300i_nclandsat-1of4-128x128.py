# SemiEarth on NC Landsat 1/4 (the 1/8 config with the 1/4 split files; the
# 1/4 unlabeled tiles are a subset of the 1/8 ones, so one cache serves both).
_base_ = ['./semiearth_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py']
train_dataloader = dict(
    dataset=dict(
        labeled=dict(ann_file='splits/train_labeled_1of4.txt'),
        unlabeled=dict(ann_file='splits/train_unlabeled_1of4.txt')))
