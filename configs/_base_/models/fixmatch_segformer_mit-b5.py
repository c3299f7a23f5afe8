# fixmatch_dpt_dinov2-s.py with segformer_mit-b5 as the segmentor.
_base_ = ['./segformer_mit-b5.py', './semi_fixmatch.py']
# data_preprocessor=None: the wrapper makes its SemiSegDataPreProcessor from
# the segmentor's; without it mmengine's Runner would give the wrapper the
# top-level SegDataPreProcessor of mmseg's model base, and the first step fails
model = dict(_delete_=True, type='SemiEarthSegmentor', segmentor={{_base_.model}},
             semi_method={{_base_.semi_method}}, semi_train_cfg={{_base_.semi_train_cfg}},
             semi_test_cfg={{_base_.semi_test_cfg}}, data_preprocessor=None)
