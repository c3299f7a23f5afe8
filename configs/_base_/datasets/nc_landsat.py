# North Carolina Landsat-7 land cover (6 classes), the embedded default dataset.
# Prepare with: python tools/dataset_converters/nc_landsat.py
# Tiles are 32 px at 28.5 m; they are upsampled x4 so that a stride-16
# backbone still sees an 8x8 feature map.
dataset_type = 'NCLandsatDataset'
data_root = 'data/nc_landsat'
num_classes = 6
crop_size = (128, 128)
scale = (128, 128)
# All six bands (10/20/30/40/50/70); for the natural-colour composite use
# img_prefix='img_dir/rgb', img_suffix='.png' and the RGB statistics below.
img_prefix = 'img_dir/ms'
img_suffix = '.tif'
# Per-band mean/std of the converter's uint8 bands over training pixels
# (data/nc_landsat/meta.json, split seed 0).
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[63.8, 70.9, 72.5, 105.8, 105.6, 90.1],
    std=[57.7, 56.3, 58.0, 51.3, 56.8, 56.1],
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size=crop_size)
load_image = dict(
    type='LoadRSImageFromFile',
    fix_hint='re-run `python tools/dataset_converters/nc_landsat.py --force`')
train_pipeline = [
    load_image,
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='RandomResize', scale=scale, ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PackSegInputs')
]
test_pipeline = [
    load_image,
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    # 32-px tiles load in microseconds: worker processes only compete with
    # the training threads (measured 7% slower per FixMatch step on 2 cores)
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='splits/train_labeled_1of8.txt',
        img_suffix=img_suffix,
        data_prefix=dict(img_path=img_prefix, seg_map_path='ann_dir'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    # 32-px tiles load in microseconds: worker processes only compete with
    # the training threads (measured 7% slower per FixMatch step on 2 cores)
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='splits/val.txt',
        img_suffix=img_suffix,
        data_prefix=dict(img_path=img_prefix, seg_map_path='ann_dir'),
        pipeline=test_pipeline))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(val_dataloader['dataset'], ann_file='splits/test.txt'))
val_evaluator = [dict(type='ClassWiseIoUMetric', iou_metrics=['mIoU']),
                 dict(type='BoundaryIoUMetric', dilation_ratio=0.02)]
test_evaluator = val_evaluator
