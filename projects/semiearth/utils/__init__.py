"""The bottom layer: helpers every other layer may use, importing nothing of
SemiEarth (the layers, top to bottom: tools > apis > engine > models /
evaluation > vlm > datasets / samplers > utils)."""
from .atomic import (DiskFullError, atomic_save, atomic_write, atomic_write_text,
                     is_partial, partial_path, remove_partials)
from .config_text import config_text, format_value
from .model import unwrap_model
from .step_rng import forked_rng, mix_seed, sample_seed, seed_global, step_generator, step_seed

__all__ = ['DiskFullError', 'atomic_save', 'atomic_write', 'atomic_write_text', 'is_partial',
           'partial_path', 'remove_partials', 'config_text', 'format_value', 'unwrap_model',
           'forked_rng', 'mix_seed', 'sample_seed', 'seed_global', 'step_generator', 'step_seed']
