# vlm-pp_segearth-vit-b16.py with the Loveda class names and evidence cache.
_base_ = ['./vlm-pp_segearth-vit-b16.py']
purifier = dict(vlm=dict(class_names='loveda'), cache_dir='data/loveda/vlm_cache/vit-b16_segearth')
