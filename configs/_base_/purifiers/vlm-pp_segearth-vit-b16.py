# VLM-PP with SegEarth-OV's training-free dense CLIP (Li et al., SegEarth-OV, CVPR 2025):
# open_clip ViT-B/16 with OpenAI weights, last block q-q + k-k + v-v
# self-self attention, global bias alleviation 0.3, logit scale 50, the 80
# ImageNet templates; the crop resized to 448 and read by 224 windows at
# stride 112. Evidence is a write-through cache at 1/2 resolution
# (evidence='auto'): each image's map is computed the first time the image
# is seen and read afterwards (tools/precompute_vlm.py CONFIG computes all of
# them up front instead); evidence='online' computes it every step.
# Weights: open_clip downloads 'openai' where the machine is online;
# offline, set vlm.checkpoint (or SEMIEARTH_VLM_CKPT / --vlm-checkpoint). A
# RemoteCLIP / GeoRSCLIP file is ViT-B-32 or ViT-L-14: set model_name too.
# Rule: ours, Bayes with the VLM's confusion measured on the labeled images
# (CalibratedPurifyRule; measured before training, VLMEvidenceHook) on the pixels the
# teacher would reject: never less accurate than lowering the threshold in the
# purification study (docs/semiearth.md). Alternatives: dict(type='PoEPurifyRule',
# temperature=1.0) (trusts the VLM's probabilities), dict(type='PaperPurifyRule')
# (the released rule).
purifier = dict(
    type='VLMPurifyHead',
    vlm=dict(
        type='DenseCLIP',
        # class_names: per dataset, a ready list ('potsdam', ...) or a dict
        # {class: [synonyms]} (not set here, so a dict merges cleanly)
        model_name='ViT-B-16',
        pretrained='openai',
        checkpoint=None,
        attention='segearth',
        cls_lambda=0.3,
        logit_scale=50.0,
        templates='openai_imagenet',
        input_size=448,
        window=224,
        stride=112,
        rgb_bands=(0, 1, 2),  # the preprocessor's output is RGB (bgr_to_rgb)
        # the segmentor's normalisation (DINOv2 configs: ImageNet, RGB)
        input_mean=[123.675, 116.28, 103.53],
        input_std=[58.395, 57.12, 57.375]),
    rule=dict(type='CalibratedPurifyRule'),
    evidence='auto',
    cache_dir=None,  # per dataset: data/<dataset>/vlm_cache/vit-b16_segearth
    downsample=2)
