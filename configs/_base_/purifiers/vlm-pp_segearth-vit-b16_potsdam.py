# vlm-pp_segearth-vit-b16.py with the Potsdam class names and evidence cache.
_base_ = ['./vlm-pp_segearth-vit-b16.py']
purifier = dict(vlm=dict(class_names='potsdam'), cache_dir='data/potsdam/vlm_cache/vit-b16_segearth')
