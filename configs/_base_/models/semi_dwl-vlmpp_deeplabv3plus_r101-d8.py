# semi_dwl_deeplabv3plus_r101-d8.py with VLM-PP purifying the pseudo-labels
# (../purifiers/vlm-pp_segearth-vit-b16.py). A dataset's config sets
# model.purifier.vlm.class_names and model.purifier.cache_dir.
_base_ = ['./semi_dwl_deeplabv3plus_r101-d8.py', '../purifiers/vlm-pp_segearth-vit-b16.py']
model = dict(purifier={{_base_.purifier}})
