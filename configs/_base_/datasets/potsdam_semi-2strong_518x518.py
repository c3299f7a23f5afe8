# potsdam_semi_518x518.py with two strong views (rs_semi-2strong_518x518.py).
# ISPRS Potsdam, DWL protocol: 5 classes (clutter ignored), 5,472 crops of
# 512 from the 38 labelled tiles, seeded 60/20/20 split, nested 1/5/10 % lists.
# Prepare with: python tools/dataset_converters/potsdam.py RAW_DIR
_base_ = ['./rs_semi-2strong_518x518.py']
dataset_type = 'PotsdamDWLDataset'
data_root = 'data/potsdam'
rs_dataset = dict(type=dataset_type, data_root=data_root)
train_dataloader = dict(dataset=dict(labeled=rs_dataset, unlabeled=rs_dataset))
val_dataloader = dict(dataset=rs_dataset)
test_dataloader = dict(dataset=rs_dataset)
