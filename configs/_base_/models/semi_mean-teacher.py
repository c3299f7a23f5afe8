# Mean Teacher with CutMix (French et al., BMVC 2020; Britefury/cutmix-semisup-
# seg train_seg_semisup_mask_mt.py): the EMA teacher's softmax on the unlabeled
# images, CutMixed, is the target of the student's softmax on the CutMixed
# images (squared error summed over classes), under the anchor's confidence
# mask: the share of pixels whose teacher confidence reaches 0.97 weights
# every pixel (conf_per_pixel=False). loss = L_x + L_cons (cons_weight 1), no
# ramp-up, as the anchor's CutMix runs. The leaves set the EMA decay to the
# anchor's 0.99.
_base_ = ['./semi_fixmatch.py']
semi_method = dict(
    _delete_=True,
    type='MeanTeacher',
    student_view='unsup_weak',   # the anchor mixes the teacher's own images
    conf_per_pixel=False,
    rampup_length=0)
# the anchor's CutMix runs (run_pascal_aug_experiments.sh, REG_MASK_CUTMIX):
# conf_thresh 0.97, one box of half the image area on every image
semi_train_cfg = dict(sup_weight=1.0, unsup_weight=1.0, conf_thresh=0.97, cutmix_prob=1.0,
                      cutmix_area=(0.5, 0.5))
