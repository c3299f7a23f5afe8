# DWL around deeplabv3plus_r101-d8 (semi_dwl.py: the method's settings).
# data_preprocessor=None: the wrapper makes its SemiSegDataPreProcessor from
# the segmentor's (see fixmatch_deeplabv3plus_r101-d8.py).
_base_ = ['./deeplabv3plus_r101-d8.py', './semi_dwl.py']
model = dict(_delete_=True, type='SemiEarthSegmentor', segmentor={{_base_.model}},
             semi_method={{_base_.semi_method}}, semi_train_cfg={{_base_.semi_train_cfg}},
             semi_test_cfg={{_base_.semi_test_cfg}}, data_preprocessor=None)
