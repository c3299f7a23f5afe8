# supervised_dpt-dinov2-s_4xb4-12k_loveda-1pct-518x518 with the 5 % labeled split.
_base_ = ['./supervised_dpt-dinov2-s_4xb4-12k_loveda-1pct-518x518.py']
train_dataloader = dict(dataset=dict(ann_file='splits/train_labeled_5pct.txt'))
