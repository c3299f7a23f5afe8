# SemiEarth on NC Landsat 1/8: the FixMatch config plus VLM-PP, a frozen
# dense CLIP whose class evidence purifies the teacher's pseudo-labels.
# Evidence is cached as training first meets each tile (evidence='auto';
# tools/precompute_vlm.py can compute it all up front); switch to computing
# it every step with model.purifier.evidence='online'.
_base_ = ['../fixmatch/fixmatch_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py']
model = dict(
    purifier=dict(
        _delete_=True,
        type='VLMPurifyHead',
        # Training-free dense CLIP, SegEarth-OV's recipe: open_clip ViT-B/16,
        # last block q-q + k-k + v-v self-self attention, global bias
        # alleviation 0.3, logit scale 50, the 80 ImageNet templates.
        # Weights: OpenAI's, downloaded by open_clip where the machine is
        # online; offline, set checkpoint=PATH (it then takes precedence;
        # RemoteCLIP / GeoRSCLIP files are ViT-B-32 / ViT-L-14: set
        # model_name to match).
        vlm=dict(
            type='DenseCLIP',
            class_names='nc_landsat',
            model_name='ViT-B-16',
            pretrained='openai',
            checkpoint=None,
            attention='segearth',
            cls_lambda=0.3,
            logit_scale=50.0,
            templates='openai_imagenet',
            # 32-px tiles: the whole tile at 224 px, no sliding window
            input_size=224,
            window=None,
            # the six bands are 10/20/30/40/50/70: blue, green, red first
            rgb_bands=(2, 1, 0),
            input_mean={{_base_.data_preprocessor.mean}},
            input_std={{_base_.data_preprocessor.std}}),
        # ours: Bayes with the VLM's confusion measured on the labeled tiles
        # (VLMEvidenceHook measures it before training), on the pixels the teacher
        # would reject; in tools/analysis_tools/purification_study.py its
        # accepted pixels were never less accurate than the teacher's equally
        # many most confident ones (docs/semiearth.md, "Purification study").
        # dict(type='PoEPurifyRule', temperature=1.0) trusts the VLM's own
        # probabilities; the released rule is dict(type='PaperPurifyRule').
        rule=dict(type='CalibratedPurifyRule'),
        evidence='auto',
        cache_dir='data/nc_landsat/vlm_cache/vit-b16_segearth',
        downsample=1))
