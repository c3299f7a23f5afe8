# vlm-pp_segearth-vit-b16.py for the NC Landsat tiles (the settings of
# configs/semiearth/semiearth_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py):
# 32-px tiles read whole at 224 px (no sliding window), blue/green/red are
# the first three of the six bands, the dataset's mean/std (ConfigCheckHook
# checks them against the data preprocessor), evidence at full resolution.
_base_ = ['./vlm-pp_segearth-vit-b16.py']
purifier = dict(
    vlm=dict(
        class_names='nc_landsat',
        input_size=224,
        window=None,
        stride=None,
        rgb_bands=(2, 1, 0),
        input_mean=[63.8, 70.9, 72.5, 105.8, 105.6, 90.1],
        input_std=[57.7, 56.3, 58.0, 51.3, 56.8, 56.1]),
    cache_dir='data/nc_landsat/vlm_cache/vit-b16_segearth',
    downsample=1)
