# UniMatch V2 (LiheYoung/UniMatch-V2 unimatch_v2.py): FixMatch's settings
# (semi_fixmatch.py) with two strong views and complementary channel dropout
# on the backbone features. loss = sup_weight * L_x + unsup_weight *
# (view_weights[0] * L_s1 + view_weights[1] * L_s2): UniMatch-V2's
# (L_x + (L_s1 + L_s2) / 2) / 2. Needs a *_semi-2strong dataset config.
_base_ = ['./semi_fixmatch.py']
semi_method = dict(
    _delete_=True,
    type='UniMatchV2',
    view_weights=(0.5, 0.5),
    kept_ratio=0.5)   # share of image pairs whose features are not dropped
