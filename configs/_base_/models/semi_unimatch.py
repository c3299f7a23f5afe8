# UniMatch (LiheYoung/UniMatch unimatch.py): no EMA teacher, pseudo-labels
# from the online model (CutMix partners labelled in eval mode), two strong
# views and a feature-perturbed weak view (Dropout2d(0.5) on the backbone
# features). loss = sup_weight * L_x + unsup_weight * (w1 L_s1 + w2 L_s2 +
# w3 L_fp): UniMatch's (L_x + 0.25 L_s1 + 0.25 L_s2 + 0.5 L_fp) / 2. Needs a
# *_semi-2strong dataset config. The model validated and exported is the
# online one (the student); the EMA teacher is still kept and validated.
_base_ = ['./semi_fixmatch.py']
semi_method = dict(
    _delete_=True,
    type='UniMatch',
    loss_weights=(0.25, 0.25, 0.5),
    fp_dropout=0.5)
semi_test_cfg = dict(predict_on='student')
