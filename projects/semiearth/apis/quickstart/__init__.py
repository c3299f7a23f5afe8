"""The quick start on the embedded NC Landsat scene (``tools/quickstart.py``
is its command line): a table of methods, their training and test runs,
the results, figures and whole-scene maps."""
from .job import run_quickstart
from .methods import (CONTINUE, SCHEDULE, ConfigFacts, Method, MethodTable, baseline_of,
                      config_facts, default_methods, method_table, with_starts)
from .results import loss_summary, paired_differences, print_table, summarise
from .runs import QuickstartError, schedule_options, train_and_test
from .scene_maps import save_scene_maps, scene_checkpoint, write_scene_input
from .settings import DEFAULT_DATA_ROOT, QuickstartSettings

__all__ = ['run_quickstart', 'CONTINUE', 'SCHEDULE', 'ConfigFacts', 'Method', 'MethodTable',
           'baseline_of', 'config_facts', 'default_methods', 'method_table', 'with_starts', 'paired_differences',
           'print_table', 'summarise', 'loss_summary', 'QuickstartError', 'schedule_options', 'train_and_test',
           'save_scene_maps', 'scene_checkpoint', 'write_scene_input', 'DEFAULT_DATA_ROOT',
           'QuickstartSettings']
