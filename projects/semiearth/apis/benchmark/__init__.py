"""The training-step benchmark (``tools/analysis_tools/benchmark_step.py``
is its command line): a config's variants (every S4 method on the config's
model, with and without the purifier) timed side by side on the same
batches, real or fake, with their peak GPU memory."""
from .batches import FakeBatches, FakeImages, fake_batch, real_batches, unlabeled_layout
from .config import (ALL_VARIANTS, SEMI_VARIANTS, BenchmarkError, batch_options,
                     config_variants, crop_size, model_kind, num_bands, num_classes,
                     strip_pretrained)
from .evidence import auto_cache_dir, precompute_fake_evidence, prepare_auto_cache
from .methods import METHOD_TYPES, branches_of, method_variants, parse_variant
from .run import BenchmarkSettings, run_benchmark
from .summary import (TARGET_AUTO_LE, TARGET_CACHED_LE, TARGET_PURIFIER_OVERHEAD_LE,
                      method_entries, structure_bound)
from .variants import build_variant

__all__ = ['FakeBatches', 'FakeImages', 'fake_batch', 'real_batches', 'unlabeled_layout',
           'ALL_VARIANTS', 'SEMI_VARIANTS', 'BenchmarkError', 'batch_options',
           'config_variants', 'crop_size', 'model_kind', 'num_bands', 'num_classes',
           'strip_pretrained', 'auto_cache_dir', 'precompute_fake_evidence',
           'prepare_auto_cache', 'BenchmarkSettings', 'run_benchmark', 'TARGET_AUTO_LE',
           'TARGET_CACHED_LE', 'build_variant', 'METHOD_TYPES', 'branches_of',
           'method_variants', 'parse_variant', 'TARGET_PURIFIER_OVERHEAD_LE', 'method_entries',
           'structure_bound']
