# fixmatch_dpt_dinov2-s.py with segformer_mit-b5 as the segmentor.
_base_ = ['./segformer_mit-b5.py']
model = dict(_delete_=True, type='SemiEarthSegmentor', segmentor={{_base_.model}})
