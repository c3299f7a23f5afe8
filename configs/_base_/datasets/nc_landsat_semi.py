# NC Landsat for semi-supervised training: every batch holds `num_labeled`
# labeled tiles and `batch_size - num_labeled` unlabeled tiles
# (SemiSampler over SemiDataset(labeled, unlabeled)). Unlabeled tiles go
# through the labeled geometry (resize, crop, flip) once, then split into a
# weak view (as is) and a strong view (photometric changes only).
_base_ = ['./nc_landsat.py']

batch_size = 16
num_labeled = 8
branches = ['sup', 'unsup_weak', 'unsup_strong']

data_preprocessor = dict(type='SemiSegDataPreProcessor')
geometric = [
    dict(type='RandomResize', scale={{_base_.scale}}, ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}}),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
]
# the strong view: photometric changes only (UniMatch-V2's); a *-2strong
# dataset config runs it twice, each view with its own draws
strong_pipeline = [
    dict(type='RandomColorJitter', brightness=0.5, contrast=0.5,
         saturation=0.5, hue=0.25, prob=0.8),
    dict(type='RandomGrayscaleRGB', prob=0.2),
    dict(type='RandomGaussianBlur', prob=0.5, sigma_range=(0.1, 2.0)),
    dict(type='PackSemiSegInputs'),
]
labeled_pipeline = [
    {{_base_.load_image}},
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes={{_base_.num_classes}}),
    *geometric,
    dict(type='MultiBranch', branch_field=branches,
         sup=[dict(type='PackSemiSegInputs')]),
]
unlabeled_pipeline = [
    {{_base_.load_image}},
    # Ground truth of unlabeled tiles feeds only the pseudo.acc diagnostics;
    # drop these two lines (and seg_map_path below) for data without labels.
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes={{_base_.num_classes}}),
    dict(type='AddValidMask', nodata_value=0),
    # each pixel's source coordinates follow the view's geometry, so cached
    # per-image data (SemiEarth's VLM evidence) can be looked up for it
    dict(type='AddSourceCoords'),
    *geometric,
    dict(type='MultiBranch', branch_field=branches,
         unsup_weak=[dict(type='PackSemiSegInputs')],
         unsup_strong=strong_pipeline),
]
train_dataloader = dict(
    _delete_=True,
    batch_size=batch_size,
    # 32-px tiles load in microseconds: worker processes only compete with
    # the training threads (measured 7% slower per FixMatch step on 2 cores)
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='SemiSampler', batch_size=batch_size,
                 num_labeled=num_labeled),
    dataset=dict(
        type='SemiDataset',
        labeled=dict(
            type={{_base_.dataset_type}}, data_root={{_base_.data_root}},
            ann_file='splits/train_labeled_1of8.txt',
            img_suffix={{_base_.img_suffix}},
            data_prefix=dict(img_path={{_base_.img_prefix}}, seg_map_path='ann_dir'),
            pipeline=labeled_pipeline),
        unlabeled=dict(
            type={{_base_.dataset_type}}, data_root={{_base_.data_root}},
            ann_file='splits/train_unlabeled_1of8.txt',
            img_suffix={{_base_.img_suffix}},
            data_prefix=dict(img_path={{_base_.img_prefix}}, seg_map_path='ann_dir'),
            pipeline=unlabeled_pipeline)))
