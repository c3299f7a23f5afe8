_base_ = ['./fixmatch_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py']
train_dataloader = dict(dataset=dict(
    labeled=dict(ann_file='splits/train_labeled_1of4.txt'),
    unlabeled=dict(ann_file='splits/train_unlabeled_1of4.txt')))
