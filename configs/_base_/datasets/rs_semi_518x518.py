# rs_518x518.py for semi-supervised training (UniMatch-V2's data): every
# batch holds `num_labeled` labeled and `batch_size - num_labeled` unlabeled
# crops (4 + 4 per GPU). Unlabeled crops go through the labeled geometry
# once, then split into a weak view (as is) and a strong view (colour jitter,
# grayscale, blur; CutMix is done by the segmentor). Labeled/unlabeled lists:
# the 1 % split; a child config changes them by key.
_base_ = ['./rs_518x518.py']

batch_size = 8
num_labeled = 4
branches = ['sup', 'unsup_weak', 'unsup_strong']
geometric = [
    dict(type='RandomResize', scale={{_base_.scale}}, ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}}),
    dict(type='RandomFlip', prob=0.5),
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
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels'),
    *geometric,
    dict(type='MultiBranch', branch_field=branches,
         sup=[dict(type='PackSemiSegInputs')]),
]
unlabeled_pipeline = [
    dict(type='LoadImageFromFile'),
    # Ground truth of unlabeled crops feeds only the pseudo.acc diagnostics;
    # drop these two lines for data without labels.
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels'),
    # the converters zero-pad edge crops: no pseudo-label loss there (a truly
    # black pixel is excluded as well, which is rare in these images)
    dict(type='AddValidMask', nodata_value=0),
    # source coordinates follow the view's geometry, so SemiEarth's cached
    # VLM evidence can be looked up for every pixel
    dict(type='AddSourceCoords'),
    *geometric,
    dict(type='MultiBranch', branch_field=branches,
         unsup_weak=[dict(type='PackSemiSegInputs')],
         unsup_strong=strong_pipeline),
]
train_dataloader = dict(
    _delete_=True,
    batch_size=batch_size,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='SemiSampler', batch_size=batch_size,
                 num_labeled=num_labeled),
    dataset=dict(
        type='SemiDataset',
        labeled=dict(
            type={{_base_.dataset_type}}, data_root={{_base_.data_root}},
            ann_file='splits/train_labeled_1pct.txt',
            data_prefix={{_base_.data_prefix}},
            img_suffix='.png', seg_map_suffix='.png', pipeline=labeled_pipeline),
        unlabeled=dict(
            type={{_base_.dataset_type}}, data_root={{_base_.data_root}},
            ann_file='splits/train_unlabeled_1pct.txt',
            data_prefix={{_base_.data_prefix}},
            img_suffix='.png', seg_map_suffix='.png', pipeline=unlabeled_pipeline)))
