# unimatch-v2_dpt-dinov2-s_4xb8-10k_potsdam-1pct-518x518
# with VLM-PP purifying the EMA teacher's pseudo-labels
# (the one difference: ../_base_/purifiers/vlm-pp_segearth-vit-b16.py with the
# potsdam class names).
_base_ = [
    './unimatch-v2_dpt-dinov2-s_4xb8-10k_potsdam-1pct-518x518.py',
    '../_base_/purifiers/vlm-pp_segearth-vit-b16_potsdam.py',
]
model = dict(purifier={{_base_.purifier}})
