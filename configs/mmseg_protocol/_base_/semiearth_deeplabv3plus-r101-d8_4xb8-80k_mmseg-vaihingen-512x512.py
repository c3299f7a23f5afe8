# SemiEarth (FixMatch + VLM-PP purified pseudo-labels), 1/8 of the training images
# labeled (mmseg protocol, docs/mmseg_zoo.md), wrapping
#   mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_vaihingen-512x512.py
# Written by: python tools/misc/wrap_mmseg_config.py \
#   mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_vaihingen-512x512.py --method \
#   semiearth --ratio 1/8 --out \
#   configs/mmseg_protocol/_base_/semiearth_deeplabv3plus-r101-d8_4xb8-80k_mmseg-vaihingen-512x512.py \
#   --fixmatch-base \
#   configs/mmseg_protocol/_base_/fixmatch_deeplabv3plus-r101-d8_4xb8-80k_mmseg-vaihingen-512x512.py
# Split lists (once per dataset, all ratios; data from mmseg's converter for ISPRSDataset):
#   python tools/dataset_converters/mmseg_splits.py data/vaihingen
# Everything not set here is the wrapped config's: model, crop, optimiser, schedule,
# test mode, evaluator, val / test data.
_base_ = [
    'fixmatch_deeplabv3plus-r101-d8_4xb8-80k_mmseg-vaihingen-512x512.py',
    '../../../projects/semiearth/apis/mmseg_protocol/configs_data/vlm-pp_segearth-vit-b16.yaml']
# The purifier of the purifier base (above), for this dataset and this model's
# normalisation. VLM evidence: the base's write-through cache (evidence='auto'); python
# tools/precompute_vlm.py THIS_CONFIG computes every map up front
model = dict(
    purifier=dict(
        _base_.purifier,
        cache_dir='data/vaihingen/vlm_cache/mmseg_vit-b16_segearth',
        vlm=dict(
            _base_.purifier.vlm,
            class_names='isprs',
            input_mean=[123.675, 116.28, 103.53],
            input_std=[58.395, 57.12, 57.375],
            rgb_bands=(0, 1, 2))))
