# mean-teacher_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128 with VLM-PP
# purifying its pseudo-labels (the SemiEarth NC Landsat config's purifier).
_base_ = [
    './mean-teacher_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py',
    '../_base_/purifiers/vlm-pp_segearth-vit-b16_nclandsat.py',
]
model = dict(purifier={{_base_.purifier}})
