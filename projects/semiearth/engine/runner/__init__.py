from .skip_ahead_iter_loop import SkipAheadIterBasedTrainLoop
from .teacher_student_val_loop import TeacherStudentValLoop

__all__ = ['SkipAheadIterBasedTrainLoop', 'TeacherStudentValLoop']
