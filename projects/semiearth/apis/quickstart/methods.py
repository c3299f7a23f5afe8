"""The quick start's methods as a table: one row per method (its config,
where it starts, how long it trains). Everything else about a method is
read from its config (semi-supervised or not, VLM purifier or not, its
schedule) or follows from the rows (which runs must come first, what each
method is compared with)."""
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List, Optional, Sequence, Tuple

SCHEDULE = 'schedule'  # the config's own schedule, or --max-iters
CONTINUE = 'continue'  # --continue-iters, from the start method's checkpoint
ITERATIONS = (SCHEDULE, CONTINUE)


@dataclass(frozen=True)
class Method:
    """One row of the method table.

    Args:
        name: the method's name on the command line and in ``results.json``.
        config: its config, relative to the repository root.
        start: ``None``: train from the config's own initialisation
            (ImageNet weights); else the name of the method whose best
            checkpoint of the same seed this one starts from.
        iterations: :data:`SCHEDULE` or :data:`CONTINUE`.
        default: in the default set (what runs without ``--methods``).
    """
    name: str
    config: str
    start: Optional[str] = None
    iterations: str = SCHEDULE
    default: bool = True

    def __post_init__(self) -> None:
        if self.iterations not in ITERATIONS:
            raise ValueError(f'method {self.name!r}: iterations must be one of '
                             f'{ITERATIONS}, got {self.iterations!r}')


MethodTable = Dict[str, Method]


def method_table(rows: Sequence[Method]) -> MethodTable:
    """The rows by name, in order; each ``start`` must be an earlier row."""
    table: MethodTable = {}
    for row in rows:
        if row.name in table:
            raise ValueError(f'method {row.name!r} is in the table twice')
        if row.start is not None and row.start not in table:
            raise ValueError(f'method {row.name!r} starts from {row.start!r}, which is not '
                             'an earlier row of the table')
        table[row.name] = row
    return table


def default_methods(table: MethodTable) -> List[str]:
    """The rows run without ``--methods``, in table order."""
    return [name for name, row in table.items() if row.default]


def with_starts(table: MethodTable, methods: List[str]) -> List[Tuple[str, str]]:
    """Add to ``methods`` (in place, at the front, in table order) the runs
    that the others start from; returns ``(method, start)`` for each one
    added."""
    added = []
    for name in list(methods):
        start = table[name].start
        while start is not None and start not in methods:
            added.append((name, start))
            methods.insert(0, start)
            start = table[start].start
    methods.sort(key=list(table).index)
    return added


def baseline_of(table: MethodTable, name: str) -> Optional[str]:
    """What ``name`` is compared with, seed by seed: a run that continues its
    start's config is compared with its start; any other run from a
    checkpoint with the start's config continued alike (same start, same
    iterations, same schedule: the fair baseline). ``None`` from scratch."""
    method = table[name]
    if method.start is None:
        return None
    start = table[method.start]
    if method.config == start.config:
        return start.name
    for other in table.values():
        if (other.start == method.start and other.config == start.config
                and other.iterations == method.iterations):
            return other.name
    return None


@dataclass(frozen=True)
class ConfigFacts:
    """What the quick start needs to know of a method's config."""
    semi: bool  # labeled + unlabeled datasets (SemiDataset)
    vlm: bool  # a VLM purifier (its evidence is precomputed first)
    max_iters: int  # the config's schedule
    save_best: str = 'mIoU'  # the val metric the best checkpoint is kept by
    predict_on: Optional[str] = None  # teacher-student: the model tested and mapped

    @property
    def best_checkpoint_glob(self) -> str:
        """The file name pattern of the best checkpoint (mmengine's
        CheckpointHook: ``best_<metric, '/' as '_'>_iter_<n>.pth``)."""
        return f"best_{self.save_best.replace('/', '_')}_iter_*.pth"


@lru_cache(maxsize=None)
def config_facts(path: str) -> ConfigFacts:
    """Read :class:`ConfigFacts` from the config file at ``path``."""
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    dataset = cfg.train_dataloader.dataset
    save_best = (cfg.get('default_hooks') or {}).get('checkpoint', {}).get('save_best')
    if not isinstance(save_best, str):
        raise ValueError(f"'{path}': default_hooks.checkpoint.save_best is {save_best!r}; the "
                         'quick start tests the best-on-val checkpoint. Fix: set one metric '
                         "(e.g. 'mIoU', 'teacher/mIoU').")
    predict_on = None
    if cfg.model.get('type') == 'SemiEarthSegmentor':
        predict_on = (cfg.model.get('semi_test_cfg') or {}).get('predict_on', 'teacher')
    return ConfigFacts(semi='unlabeled' in dataset,
                       vlm=bool((cfg.model.get('purifier') or {}).get('vlm')),
                       max_iters=int(cfg.train_cfg.max_iters), save_best=save_best,
                       predict_on=predict_on)
