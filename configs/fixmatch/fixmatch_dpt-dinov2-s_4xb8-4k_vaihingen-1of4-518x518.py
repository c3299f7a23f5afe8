# fixmatch_dpt-dinov2-s_4xb8-4k_vaihingen-1of8-518x518 with the 1/4 labeled split.
_base_ = ['./fixmatch_dpt-dinov2-s_4xb8-4k_vaihingen-1of8-518x518.py']
train_dataloader = dict(dataset=dict(
    labeled=dict(ann_file='splits/train_labeled_1of4.txt'),
    unlabeled=dict(ann_file='splits/train_unlabeled_1of4.txt')))
