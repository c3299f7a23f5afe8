# schedule_unimatch-v2.py for teacher-student training: EMA teacher with
# decay (teacher weight) min(1 - 1/(t+1), 0.996), teacher and student validated, best
# checkpoint by the teacher's val mIoU.
_base_ = ['./schedule_unimatch-v2.py']
custom_hooks = [dict(type='ConfigCheckHook'), dict(type='VLMEvidenceHook'),
                dict(type='EMATeacherHook', max_decay=0.996),
                dict(type='StepRNGHook')]
val_cfg = dict(_delete_=True, type='TeacherStudentValLoop')
# a resumed run starts SemiSampler at the resumed iteration instead of
# loading every finished batch again (MMEngine's IterBasedTrainLoop)
train_cfg = dict(type='SkipAheadIterBasedTrainLoop')
default_hooks = dict(checkpoint=dict(save_best='teacher/mIoU'))
