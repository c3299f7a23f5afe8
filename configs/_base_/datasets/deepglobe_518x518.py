# DeepGlobe Land Cover, DWL protocol: 6 classes ("unknown" ignored), 803
# images -> 20,075 crops of 512, seeded 60/20/20 split, nested 1/5/10 % lists.
# Prepare with: python tools/dataset_converters/deepglobe.py RAW_DIR
_base_ = ['./rs_518x518.py']
dataset_type = 'DeepGlobeLandCoverDataset'
data_root = 'data/deepglobe'
rs_dataset = dict(type=dataset_type, data_root=data_root)
train_dataloader = dict(dataset=rs_dataset)
val_dataloader = dict(dataset=rs_dataset)
test_dataloader = dict(dataset=rs_dataset)
