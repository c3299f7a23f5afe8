# rs_semi_518x518.py with two strong views of every unlabeled crop
# (UniMatch-V2's dataset/semi.py l.52-64: img_s1 and img_s2, each with its
# own colour jitter / grayscale / blur draws and its own CutMix box). The
# branches unsup_strong and unsup_strong2 run the same photometric pipeline
# one after the other in the sample's seeded pipeline: independent draws,
# the same on every rerun, per rank. CutMix boxes are drawn per view by the
# segmentor.
_base_ = ['./rs_semi_518x518.py']

branches = ['sup', 'unsup_weak', 'unsup_strong', 'unsup_strong2']
# the parent's pipelines with the second strong branch (mmengine configs
# cannot edit an element of an inherited list, so they are written out)
labeled_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels'),
    dict(type='RandomResize', scale={{_base_.scale}}, ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}}),
    dict(type='RandomFlip', prob=0.5),
    dict(type='MultiBranch', branch_field=branches,
         sup=[dict(type='PackSemiSegInputs')]),
]
unlabeled_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels'),
    dict(type='AddValidMask', nodata_value=0),
    dict(type='AddSourceCoords'),
    dict(type='RandomResize', scale={{_base_.scale}}, ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}}),
    dict(type='RandomFlip', prob=0.5),
    dict(type='MultiBranch', branch_field=branches,
         unsup_weak=[dict(type='PackSemiSegInputs')],
         unsup_strong={{_base_.strong_pipeline}},
         unsup_strong2={{_base_.strong_pipeline}}),
]
train_dataloader = dict(dataset=dict(labeled=dict(pipeline=labeled_pipeline),
                                     unlabeled=dict(pipeline=unlabeled_pipeline)))
