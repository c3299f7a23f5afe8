# ISPRS Vaihingen (IRRG), LSST/WSCL protocol: 6 classes, official train/test
# areas cut in 512 crops, labeled fractions 1/8 and 1/4 of train; val = test.
# Prepare with: python tools/dataset_converters/vaihingen.py RAW_DIR
_base_ = ['./rs_518x518.py']
dataset_type = 'VaihingenDataset'
data_root = 'data/vaihingen'
rs_dataset = dict(type=dataset_type, data_root=data_root)
train_dataloader = dict(dataset=rs_dataset)
val_dataloader = dict(dataset=rs_dataset)
test_dataloader = dict(dataset=rs_dataset)
