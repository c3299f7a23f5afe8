# schedule_unimatch-v2_semi.py with mmseg's DeepLabV3+ recipe (SGD, lr 0.01,
# momentum 0.9, weight decay 5e-4, poly): the optimiser of the
# DeepLabV3+ R101 configs, comparable with mmseg's zoo.
_base_ = ['./schedule_unimatch-v2_semi.py']
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4))
