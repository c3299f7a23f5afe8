# Supervised (the config itself, labeled images only), 1/8 of the training images
# labeled (mmseg protocol, docs/mmseg_zoo.md), wrapping
#   mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_potsdam-512x512.py
# Written by: python tools/misc/wrap_mmseg_config.py \
#   mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_potsdam-512x512.py --method \
#   supervised --ratio 1/8 --out \
#   configs/mmseg_protocol/_base_/supervised_deeplabv3plus-r101-d8_4xb4-80k_mmseg-potsdam-512x512.py
# Split lists (once per dataset, all ratios; data from mmseg's converter for PotsdamDataset):
#   python tools/dataset_converters/mmseg_splits.py data/potsdam
# Everything not set here is the wrapped config's: model, crop, optimiser, schedule,
# test mode, evaluator, val / test data.
_base_ = ['mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_potsdam-512x512.py']
custom_imports = dict(imports=['semiearth'], allow_failed_imports=False)
# checks classes, crop and every image / label before iteration 1
custom_hooks = [dict(type='ConfigCheckHook')]
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
train_dataloader = dict(dataset=dict(ann_file='splits/mmseg/train_labeled_1of8.txt'))
