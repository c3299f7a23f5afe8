from .semi_sampler import SemiSampler

__all__ = ['SemiSampler']
