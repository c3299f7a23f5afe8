from .student_optim_wrapper_constructor import StudentOptimWrapperConstructor

__all__ = ['StudentOptimWrapperConstructor']
