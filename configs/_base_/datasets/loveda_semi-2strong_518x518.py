# loveda_semi_518x518.py with two strong views (rs_semi-2strong_518x518.py).
# LoveDA, DWL protocol: 7 classes (no-data ignored), Train+Val tiles cut in
# 4 (16,764 crops of 512), seeded 60/20/20 split, nested 1/5/10 % lists.
# Prepare with: python tools/dataset_converters/loveda.py RAW_DIR
_base_ = ['./rs_semi-2strong_518x518.py']
dataset_type = 'LoveDADWLDataset'
data_root = 'data/loveda'
rs_dataset = dict(type=dataset_type, data_root=data_root)
train_dataloader = dict(dataset=dict(labeled=rs_dataset, unlabeled=rs_dataset))
val_dataloader = dict(dataset=rs_dataset)
test_dataloader = dict(dataset=rs_dataset)
