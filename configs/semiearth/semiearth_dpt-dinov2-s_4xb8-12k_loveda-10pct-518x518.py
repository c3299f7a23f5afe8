# semiearth_dpt-dinov2-s_4xb8-12k_loveda-1pct-518x518 with the 10 % labeled split.
_base_ = ['./semiearth_dpt-dinov2-s_4xb8-12k_loveda-1pct-518x518.py']
train_dataloader = dict(dataset=dict(
    labeled=dict(ann_file='splits/train_labeled_10pct.txt'),
    unlabeled=dict(ann_file='splits/train_unlabeled_10pct.txt')))
