# FixMatch with an EMA teacher (UniMatch-V2's framework) around DeepLabV3+ /
# MobileNetV2 (the NC Landsat quick-start model). The step's settings are
# spelled out in semi_fixmatch.py. The leaf passes its dataset's data
# preprocessor (model.data_preprocessor).
_base_ = ['./deeplabv3plus_mobilenetv2.py', './semi_fixmatch.py']
model = dict(_delete_=True, type='SemiEarthSegmentor', segmentor={{_base_.model}},
             semi_method={{_base_.semi_method}}, semi_train_cfg={{_base_.semi_train_cfg}},
             semi_test_cfg={{_base_.semi_test_cfg}}, purifier=None)
