"""What the quick start reads back from a run's scalar logs
(``<work_dir>/<timestamp>/vis_data/scalars.json``, mmengine's)."""
import glob
import json
import os.path as osp
from typing import Dict, List, Optional, Tuple

PSEUDO_KEYS = ('pseudo.mask_ratio', 'pseudo.acc', 'pseudo.acc_all')
VLM_KEYS = ('vlm.changed_label_ratio', 'vlm.changed_accept_ratio', 'pseudo_before.acc',
            'pseudo_before.mask_ratio')


def _records(work_dir: str):
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')):
        with open(path) as f:
            for line in f:
                yield json.loads(line)


def read_curves(work_dir: str) -> Dict[str, List[Tuple[int, float]]]:
    """Pseudo-label diagnostics logged during training, by iteration."""
    curves = {k: [] for k in PSEUDO_KEYS + VLM_KEYS}
    for rec in _records(work_dir):
        for k in curves:
            if k in rec and 'iter' in rec:
                curves[k].append((rec['iter'], rec[k]))
    return {k: sorted(v) for k, v in curves.items() if v}


def best_val(work_dir: str) -> Optional[float]:
    """The best val mIoU of a run (the teacher's for semi runs), in %."""
    best = None
    for rec in _records(work_dir):
        value = rec.get('teacher/mIoU', rec.get('mIoU'))
        if value is not None and 'iter' not in rec:
            best = value if best is None else max(best, value)
    return best
