# UniMatch V2 around dpt_dinov2-s (semi_unimatch-v2.py: the method's settings).
# The wrapped segmentor brings its data preprocessor.
_base_ = ['./dpt_dinov2-s.py', './semi_unimatch-v2.py']
model = dict(_delete_=True, type='SemiEarthSegmentor', segmentor={{_base_.model}},
             semi_method={{_base_.semi_method}}, semi_train_cfg={{_base_.semi_train_cfg}},
             semi_test_cfg={{_base_.semi_test_cfg}})
