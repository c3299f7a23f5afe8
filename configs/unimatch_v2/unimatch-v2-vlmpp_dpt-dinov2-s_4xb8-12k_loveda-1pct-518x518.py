# unimatch-v2_dpt-dinov2-s_4xb8-12k_loveda-1pct-518x518
# with VLM-PP purifying the EMA teacher's pseudo-labels
# (the one difference: ../_base_/purifiers/vlm-pp_segearth-vit-b16.py with the
# loveda class names).
_base_ = [
    './unimatch-v2_dpt-dinov2-s_4xb8-12k_loveda-1pct-518x518.py',
    '../_base_/purifiers/vlm-pp_segearth-vit-b16_loveda.py',
]
model = dict(purifier={{_base_.purifier}})
