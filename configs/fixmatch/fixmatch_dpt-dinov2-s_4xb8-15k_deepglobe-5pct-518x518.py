# fixmatch_dpt-dinov2-s_4xb8-15k_deepglobe-1pct-518x518 with the 5 % labeled split.
_base_ = ['./fixmatch_dpt-dinov2-s_4xb8-15k_deepglobe-1pct-518x518.py']
train_dataloader = dict(dataset=dict(
    labeled=dict(ann_file='splits/train_labeled_5pct.txt'),
    unlabeled=dict(ann_file='splits/train_unlabeled_5pct.txt')))
