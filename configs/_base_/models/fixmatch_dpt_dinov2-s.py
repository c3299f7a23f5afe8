# FixMatch with an EMA teacher (UniMatch-V2's framework, SPEC section 2)
# around DINOv2-S + DPT. semi_train_cfg defaults are UniMatch-V2's (loss
# weights 0.5 / 0.5, threshold 0.95, CutMix p 0.5): see DEFAULT_TRAIN_CFG in
# projects/semiearth/models/segmentors/semiearth_segmentor.py. The wrapped
# segmentor brings its data preprocessor. No purifier: FixMatch
# (semiearth_dpt_dinov2-s.py adds one).
_base_ = ['./dpt_dinov2-s.py']
model = dict(_delete_=True, type='SemiEarthSegmentor', segmentor={{_base_.model}})
