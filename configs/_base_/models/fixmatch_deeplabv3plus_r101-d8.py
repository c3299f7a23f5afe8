# fixmatch_dpt_dinov2-s.py with deeplabv3plus_r101-d8 as the segmentor.
_base_ = ['./deeplabv3plus_r101-d8.py']
model = dict(_delete_=True, type='SemiEarthSegmentor', segmentor={{_base_.model}})
