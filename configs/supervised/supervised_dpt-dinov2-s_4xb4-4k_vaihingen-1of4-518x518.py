# supervised_dpt-dinov2-s_4xb4-4k_vaihingen-1of8-518x518 with the 1/4 labeled split.
_base_ = ['./supervised_dpt-dinov2-s_4xb4-4k_vaihingen-1of8-518x518.py']
train_dataloader = dict(dataset=dict(ann_file='splits/train_labeled_1of4.txt'))
