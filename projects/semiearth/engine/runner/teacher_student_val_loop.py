"""Validation of both teacher and student."""
from mmengine.runner import ValLoop
from mmseg.registry import LOOPS

from ...utils import unwrap_model


@LOOPS.register_module()
class TeacherStudentValLoop(ValLoop):
    """Evaluate the teacher, then the student, in one validation.

    Metrics are logged as ``teacher/<metric>`` and ``student/<metric>``;
    choose the best-checkpoint rule with ``CheckpointHook(save_best=
    'teacher/mIoU')`` (or ``'student/mIoU'``). The model's
    ``semi_test_cfg.predict_on`` is restored afterwards.
    """

    def run(self) -> dict:
        self.runner.call_hook('before_val')
        self.runner.call_hook('before_val_epoch')
        self.runner.model.eval()
        model = unwrap_model(self.runner.model)
        if not hasattr(model, 'semi_test_cfg'):
            raise TypeError('TeacherStudentValLoop needs a teacher-student model '
                            f'(semi_test_cfg), got {type(model).__name__}')
        original = model.semi_test_cfg.get('predict_on', 'teacher')
        metrics = {}
        try:
            for role in ('teacher', 'student'):
                model.semi_test_cfg['predict_on'] = role
                for idx, data_batch in enumerate(self.dataloader):
                    self.run_iter(idx, data_batch)
                role_metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
                metrics.update({f'{role}/{k}': v for k, v in role_metrics.items()})
        finally:
            model.semi_test_cfg['predict_on'] = original
        self.runner.call_hook('after_val_epoch', metrics=metrics)
        self.runner.call_hook('after_val')
        return metrics
