# DWL, decoupled weighting learning (zhu-xlab/RS-DWL train.py, method 'DWL'):
# pseudo-labels from the online model (no EMA teacher in the anchor), weighted
# per pixel by class-wise confidence bins over the last 50 batches instead of
# a hard threshold, no unsupervised loss during the first 50 iterations, the
# strong view trained through a pseudo-label classifier that
# ClassifierMergeHook merges into the main one every pass over the unlabeled
# set (the leaves add the hook). loss = L_x + L_u, as the anchor.
# conf_thresh is not DWL's: it is the threshold the purifier is told and the
# logged mask ratio's. The model validated and exported is the online one
# (the student); the EMA teacher is still kept (it carries the pseudo
# classifier too) and validated.
_base_ = ['./semi_fixmatch.py']
semi_method = dict(
    _delete_=True,
    type='DWL',
    weighting=dict(
        memory_batches=50,       # entries per class memory (memory_n_batches)
        memory_size=(64, 64),    # confidences nearest-resized to this first
        num_bins=20,             # bins per class (sample_cls_bins)
        warmup_iters=None))      # None: = memory_batches, as the anchor
semi_train_cfg = dict(sup_weight=1.0, unsup_weight=1.0)
semi_test_cfg = dict(predict_on='student')
