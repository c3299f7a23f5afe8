"""The mmseg model-zoo protocol: semi-supervised runs on the data layout,
split and model that mmseg's zoo reports, so that a run with 1/8 of the
labels can be read against the zoo's fully supervised number
(docs/mmseg_zoo.md).

- :mod:`.ratios`: the protocol's labeled ratios and split-list names
  (``tools/dataset_converters/mmseg_splits.py`` writes the lists);
- :mod:`.methods`: the methods the wrap tool writes leaves for (one row
  each: supervised, FixMatch, SemiEarth, UniMatch V2, UniMatch and their
  purified rows);
- :mod:`.wrap`: an mmseg config turned into a leaf of one of them (``tools/misc/wrap_mmseg_config.py``), from
  :mod:`.source_config` (the wrapped config), :mod:`.pipelines` (the derived
  pipelines), :mod:`.package_data` (the teacher-student runtime and the
  purifier base, shipped in the package), :mod:`.naming` (file names,
  headers) and :mod:`.expressions` (references to base variables).
"""
from .methods import METHODS, PROTOCOL_METHODS, ProtocolMethod, protocol_method
from .naming import suggest_name
from .package_data import DATA_DIR, PURIFIER_BASE, RUNTIME, semi_runtime
from .pipelines import labeled_pipeline, unlabeled_pipeline
from .ratios import PROTOCOL_RATIOS, SPLIT_DIR, protocol_ratio_tag, split_files
from .source_config import dataset_defaults, resolve_config, strip_scope
from .wrap import ratio_assignments, wrap_config

__all__ = ['PROTOCOL_METHODS', 'ProtocolMethod', 'protocol_method', 'suggest_name', 'DATA_DIR', 'PURIFIER_BASE', 'RUNTIME', 'semi_runtime',
           'labeled_pipeline', 'unlabeled_pipeline', 'METHODS', 'PROTOCOL_RATIOS',
           'SPLIT_DIR', 'protocol_ratio_tag', 'split_files', 'dataset_defaults',
           'resolve_config', 'strip_scope', 'ratio_assignments', 'wrap_config']
