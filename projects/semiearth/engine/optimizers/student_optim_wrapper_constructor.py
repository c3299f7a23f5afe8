"""The optimiser of a teacher-student model, over the student only."""
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn

from ...utils import unwrap_model


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class StudentOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """MMEngine's default constructor (``paramwise_cfg`` and all), applied
    to the model's ``student`` only.

    A teacher-student model (:class:`SemiEarthSegmentor`) holds a frozen EMA
    teacher and possibly a frozen, training-free purifier beside the
    student. Given the whole model, the default constructor puts the
    teacher's parameters into the optimiser's groups (without
    ``paramwise_cfg``) or logs one "is skipped since its requires_grad=False"
    line per teacher parameter (with it). This constructor gives it the
    student alone, named ``student.*`` as in the whole model, so that
    ``custom_keys`` match as before; a frozen parameter inside the student
    is still reported by MMEngine.

    Contract: the optimiser holds exactly the student's parameters. Any
    trainable parameter of the model outside the student is an error (it
    would silently never train).
    """

    def __call__(self, model: nn.Module) -> OptimWrapper:
        model = unwrap_model(model)
        student = getattr(model, 'student', None)
        if not isinstance(student, nn.Module):
            raise TypeError(
                f'StudentOptimWrapperConstructor: the model ({type(model).__name__}) has no '
                "'student' module. Fix: use it with a teacher-student model such as "
                'SemiEarthSegmentor, or drop optim_wrapper.constructor.')
        own = {id(p) for p in student.parameters()}
        outside = [name for name, p in model.named_parameters()
                   if p.requires_grad and id(p) not in own]
        if outside:
            raise ValueError(
                f'StudentOptimWrapperConstructor: {len(outside)} trainable parameter(s) '
                f"outside the student, e.g. {outside[:3]}, would never train. Fix: freeze "
                'them (requires_grad_(False)) or drop optim_wrapper.constructor.')
        holder = nn.Module()
        holder.student = student  # names stay student.* for paramwise_cfg's custom_keys
        return super().__call__(holder)
