# DWL around deeplabv3plus_mobilenetv2 (semi_dwl.py: the method's settings).
# The leaf passes its dataset's data preprocessor (model.data_preprocessor).
_base_ = ['./deeplabv3plus_mobilenetv2.py', './semi_dwl.py']
model = dict(_delete_=True, type='SemiEarthSegmentor', segmentor={{_base_.model}},
             semi_method={{_base_.semi_method}}, semi_train_cfg={{_base_.semi_train_cfg}},
             semi_test_cfg={{_base_.semi_test_cfg}})
