# unimatch_deeplabv3plus-r101-d8_4xb8-12k_loveda-1pct-518x518
# with VLM-PP purifying UniMatch (the online model's) pseudo-labels
# (the one difference: ../_base_/purifiers/vlm-pp_segearth-vit-b16.py with the
# loveda class names).
_base_ = [
    './unimatch_deeplabv3plus-r101-d8_4xb8-12k_loveda-1pct-518x518.py',
    '../_base_/purifiers/vlm-pp_segearth-vit-b16_loveda.py',
]
model = dict(purifier={{_base_.purifier}})
