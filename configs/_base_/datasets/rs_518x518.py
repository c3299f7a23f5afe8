# Remote-sensing benchmarks in the layout SemiEarth's converters write
# (tools/dataset_converters/{potsdam,vaihingen,loveda,deepglobe}.py):
#   <data_root>/img_dir/<crop>.png, ann_dir/<crop>.png (class index, 255 =
#   ignore), splits/{train,val,test}.txt and the nested labeled lists.
# Each dataset's config (potsdam_518x518.py, ...) sets the dataset type and
# root; a new dataset in this layout needs nothing else (docs/training.md, "Your own
# dataset"). Training as UniMatch-V2: random resize 0.5-2.0 of the 512 crop,
# crop 518 (the data preprocessor pads with label 255), horizontal flip.
# Test: whole crops, slide inference set by the model config.
dataset_type = 'RSSegDataset'
data_root = None
crop_size = (518, 518)
scale = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    # no num_classes: checked against the dataset's own class count
    dict(type='CheckSegLabels'),
    dict(type='RandomResize', scale=scale, ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels'),
    dict(type='PackSegInputs')
]
data_prefix = dict(img_path='img_dir', seg_map_path='ann_dir')
suffixes = dict(img_suffix='.png', seg_map_suffix='.png')
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='splits/train.txt',
        data_prefix=data_prefix,
        **suffixes,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='splits/val.txt',
        data_prefix=data_prefix,
        **suffixes,
        pipeline=test_pipeline))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(val_dataloader['dataset'], ann_file='splits/test.txt'))
val_evaluator = [dict(type='ClassWiseIoUMetric', iou_metrics=['mIoU']),
                 dict(type='BoundaryIoUMetric', dilation_ratio=0.02)]
test_evaluator = val_evaluator
