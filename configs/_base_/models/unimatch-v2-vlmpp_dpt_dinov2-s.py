# unimatch-v2_dpt_dinov2-s.py with VLM-PP purifying the teacher's
# pseudo-labels (../purifiers/vlm-pp_segearth-vit-b16.py). A dataset's config
# sets model.purifier.vlm.class_names and model.purifier.cache_dir.
_base_ = ['./unimatch-v2_dpt_dinov2-s.py', '../purifiers/vlm-pp_segearth-vit-b16.py']
model = dict(purifier={{_base_.purifier}})
