# FixMatch with an EMA teacher (UniMatch-V2's framework) around DINOv2-S +
# DPT. The step's settings (loss weights 0.5 / 0.5, threshold 0.95, CutMix p
# 0.5) are spelled out in semi_fixmatch.py. The wrapped segmentor brings its
# data preprocessor. No purifier: FixMatch (semiearth_dpt_dinov2-s.py adds one).
_base_ = ['./dpt_dinov2-s.py', './semi_fixmatch.py']
model = dict(_delete_=True, type='SemiEarthSegmentor', segmentor={{_base_.model}},
             semi_method={{_base_.semi_method}}, semi_train_cfg={{_base_.semi_train_cfg}},
             semi_test_cfg={{_base_.semi_test_cfg}})
