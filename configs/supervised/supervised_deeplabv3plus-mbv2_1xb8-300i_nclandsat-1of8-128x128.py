# Supervised baseline: DeepLabV3+ / ImageNet MobileNetV2 on the labeled 1/8 of
# NC Landsat (six bands). The FixMatch and SemiEarth configs of the same
# dataset and ratio inherit this model, schedule and data.
_base_ = [
    '../_base_/models/deeplabv3plus_mobilenetv2.py',
    '../_base_/datasets/nc_landsat.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_adamw_poly.py',
]
model = dict(data_preprocessor={{_base_.data_preprocessor}})
