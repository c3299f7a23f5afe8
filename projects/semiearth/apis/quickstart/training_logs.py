"""What the quick start reads back from a run's scalar logs
(``<work_dir>/<timestamp>/vis_data/scalars.json``, mmengine's)."""
import glob
import json
import os.path as osp
from typing import Dict, List, Optional, Tuple

PSEUDO_KEYS = ('pseudo.mask_ratio', 'pseudo.acc', 'pseudo.acc_all')
# the same split by region: the ground truth's boundary band and interior
REGION_KEYS = ('pseudo.mask_ratio_boundary', 'pseudo.acc_boundary',
               'pseudo.mask_ratio_interior', 'pseudo.acc_interior')
# each method's unsupervised loss terms (FixMatch unsup.loss_ce; UniMatch V2
# unsup.loss_ce_s1 / _s2; UniMatch also unsup.loss_ce_fp; ...): read by prefix
LOSS_PREFIX = 'unsup.loss'
VLM_KEYS = ('vlm.changed_label_ratio', 'vlm.changed_accept_ratio', 'pseudo_before.acc',
            'pseudo_before.mask_ratio', 'pseudo_before.acc_boundary',
            'pseudo_before.acc_interior')


def _records(work_dir: str):
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')):
        with open(path) as f:
            for line in f:
                yield json.loads(line)


def read_curves(work_dir: str) -> Dict[str, List[Tuple[int, float]]]:
    """Pseudo-label diagnostics and the method's unsupervised loss terms
    (keys starting with :data:`LOSS_PREFIX`) logged during training, by
    iteration."""
    curves = {k: [] for k in PSEUDO_KEYS + REGION_KEYS + VLM_KEYS}
    for rec in _records(work_dir):
        if 'iter' not in rec:
            continue
        for k, v in rec.items():
            if k in curves or k.startswith(LOSS_PREFIX):
                curves.setdefault(k, []).append((rec['iter'], v))
    return {k: sorted(v) for k, v in curves.items() if v}


def best_val(work_dir: str, key: str = 'mIoU') -> Optional[float]:
    """The best val value of ``key`` in a run (the config's ``save_best``:
    ``teacher/mIoU``, ``student/mIoU`` for UniMatch, ``mIoU``), in %."""
    best = None
    for rec in _records(work_dir):
        value = rec.get(key)
        if value is not None and 'iter' not in rec:
            best = value if best is None else max(best, value)
    return best
