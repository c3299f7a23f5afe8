# FixMatch with an EMA teacher (SemiEarthSegmentor, no purifier), 1/8 of the training images
# labeled (mmseg protocol, docs/mmseg_zoo.md), wrapping
#   mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_vaihingen-512x512.py
# Written by: python tools/misc/wrap_mmseg_config.py \
#   mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_vaihingen-512x512.py --method \
#   fixmatch --ratio 1/8 --out \
#   configs/mmseg_protocol/_base_/fixmatch_deeplabv3plus-r101-d8_4xb8-80k_mmseg-vaihingen-512x512.py
# Split lists (once per dataset, all ratios; data from mmseg's converter for ISPRSDataset):
#   python tools/dataset_converters/mmseg_splits.py data/vaihingen
# Everything not set here is the wrapped config's: model, crop, optimiser, schedule,
# test mode, evaluator, val / test data.
_base_ = ['mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_vaihingen-512x512.py']
custom_imports = dict(imports=['semiearth'], allow_failed_imports=False)
# The training crop: every RandomCrop and the data preprocessor (the size batches are
# padded to) read this name. Set it here, or write the leaf with --crop-size; MMEngine
# resolves names when it reads this file, so --cfg-options crop_size=... would reach no
# pipeline.
crop_size = (512, 512)
# the teacher-student wrapper around the config's model; data_preprocessor=None: the
# wrapper makes the model's own a SemiSegDataPreProcessor (and None keeps mmengine's
# Runner from putting the config's top-level data_preprocessor here)
model = dict(
    type='SemiEarthSegmentor',
    _delete_=True,
    segmentor=dict(
        _base_.model,
        data_preprocessor=dict(_base_.model.data_preprocessor, size=crop_size)),
    data_preprocessor=None)
optim_wrapper = dict(constructor='StudentOptimWrapperConstructor')
# labeled: the wrapped training pipeline, packed as the sup branch
labeled_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(512, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(
        type='MultiBranch',
        branch_field=['sup', 'unsup_weak', 'unsup_strong'],
        sup=[dict(type='PackSemiSegInputs')])]
# unlabeled: its loading and geometry once (no label-driven crop), then a weak view and
# a strong view (colour jitter, grayscale, blur; CutMix in the model). The label map is
# loaded only for the pseudo.acc diagnostics; without label files:
# --unlabeled-without-labels.
unlabeled_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='AddSourceCoords'),
    dict(type='RandomResize', scale=(512, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='MultiBranch',
        branch_field=['sup', 'unsup_weak', 'unsup_strong'],
        unsup_weak=[dict(type='PackSemiSegInputs')],
        unsup_strong=[
            dict(
                type='RandomColorJitter',
                brightness=0.5,
                contrast=0.5,
                saturation=0.5,
                hue=0.25,
                prob=0.8),
            dict(type='RandomGrayscaleRGB', prob=0.2),
            dict(type='RandomGaussianBlur', prob=0.5, sigma_range=[0.1, 2.0]),
            dict(type='PackSemiSegInputs')])]
# 4 labeled + 4 unlabeled images per GPU and step, from the wrapped config's training
# set; labeled lists: this ratio's
train_dataloader = dict(
    _base_.train_dataloader,
    _delete_=True,
    batch_size=8,
    sampler=dict(type='SemiSampler', batch_size=8, num_labeled=4),
    dataset=dict(
        type='SemiDataset',
        labeled=dict(
            _base_.train_dataloader.dataset,
            ann_file='splits/mmseg/train_labeled_1of8.txt',
            pipeline=labeled_pipeline),
        unlabeled=dict(
            _base_.train_dataloader.dataset,
            ann_file='splits/mmseg/train_unlabeled_1of8.txt',
            pipeline=unlabeled_pipeline)))
# the teacher-student hooks and loops (EMA teacher, VLM evidence prepared before
# training, teacher and student validated, a resumed run skips finished batches
# unloaded)
custom_hooks = [
    dict(type='ConfigCheckHook'),
    dict(type='VLMEvidenceHook'),
    dict(type='EMATeacherHook', max_decay=0.996),
    dict(type='StepRNGHook')]
train_cfg = dict(type='SkipAheadIterBasedTrainLoop')
val_cfg = dict(type='TeacherStudentValLoop', _delete_=True)
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
