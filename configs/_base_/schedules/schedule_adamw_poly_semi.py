_base_ = ['./schedule_adamw_poly.py']

# Teacher-student training: EMA teacher after every step, both models
# validated, best checkpoint by the teacher's val mIoU.
custom_hooks = [dict(type='ConfigCheckHook'), dict(type='VLMEvidenceHook'),
                dict(type='EMATeacherHook', max_decay=0.996),
                dict(type='StepRNGHook')]
val_cfg = dict(_delete_=True, type='TeacherStudentValLoop')
# a resumed run starts SemiSampler at the resumed iteration instead of
# loading every finished batch again (MMEngine's IterBasedTrainLoop)
train_cfg = dict(type='SkipAheadIterBasedTrainLoop')
default_hooks = dict(checkpoint=dict(save_best='teacher/mIoU'))
