"""The quick start's records (one per method in ``results.json``), the
seed-by-seed comparison with each method's baseline, and the printed
table."""
from typing import Dict, List

import numpy as np

from .methods import Method, MethodTable, baseline_of, config_facts
from .runs import iterations
from .settings import QuickstartSettings
from .training_logs import LOSS_PREFIX, PSEUDO_KEYS, REGION_KEYS, VLM_KEYS


def curve_summary(per_seed: List[dict], keys) -> Dict[str, dict]:
    """Each logged curve of ``keys``: its mean over the whole run and over
    its last five values, per seed (``per_seed``: ``[mean, end]`` each) and
    averaged over the seeds."""
    summary = {}
    for k in keys:
        runs = [[v for _, v in m['curves'][k]] for m in per_seed if k in m['curves']]
        if runs:
            seeds = [[float(np.mean(r)), float(np.mean(r[-5:]))] for r in runs]
            summary[k] = dict(mean=float(np.mean([s[0] for s in seeds])),
                              end=float(np.mean([s[1] for s in seeds])), per_seed=seeds)
    return summary


def pseudo_label_summary(per_seed: List[dict]) -> Dict[str, dict]:
    """The pseudo-label curves (mask ratio, accuracy, VLM changes): see
    :func:`curve_summary`."""
    return curve_summary(per_seed, PSEUDO_KEYS + REGION_KEYS + VLM_KEYS)


def loss_summary(per_seed: List[dict]) -> Dict[str, dict]:
    """The method's own unsupervised loss terms (whatever keys it logs
    under :data:`LOSS_PREFIX`): see :func:`curve_summary`."""
    keys = sorted({k for m in per_seed for k in m['curves'] if k.startswith(LOSS_PREFIX)})
    return curve_summary(per_seed, keys)


def summarise(method: Method, per_seed: List[dict], s: QuickstartSettings) -> dict:
    """The ``results.json`` record of a method from its per-seed test
    metrics (:func:`train_and_test`'s)."""
    miou = np.array([m['mIoU'] for m in per_seed]) / 100
    # Boundary IoU (BoundaryIoUMetric, beside mIoU in the NC Landsat configs)
    boundary = np.array([m.get('mBoundaryIoU', np.nan) for m in per_seed]) / 100
    classes = [k[4:] for k in per_seed[0] if k.startswith('IoU.')]
    per_class = {c: float(np.nanmean([m[f'IoU.{c}'] for m in per_seed]) / 100)
                 for c in classes}
    init = 'ImageNet' if method.start is None else f'{method.start} best checkpoint, same seed'
    facts = config_facts(s.config_path(method.config))
    return dict(method=method.name, config=method.config, labeled_ratio='1/8',
                dataset='nc_landsat', split_seed=s.split_seed, split='test', init=init,
                iterations=iterations(method, s),
                seeds=s.seeds, miou_mean=float(miou.mean()),
                miou_std=float(miou.std(ddof=1)) if len(miou) > 1 else 0.0,
                miou_per_seed=miou.tolist(),
                boundary_miou_mean=_mean(boundary), boundary_miou_std=_std(boundary),
                boundary_miou_per_seed=[None if np.isnan(v) else float(v) for v in boundary],
                val_miou_per_seed=[m['val_miou'] and m['val_miou'] / 100 for m in per_seed],
                per_class_iou=per_class, best_by=facts.save_best,
                model_tested=facts.predict_on or 'single',
                pseudo_labels=pseudo_label_summary(per_seed),
                unsup_losses=loss_summary(per_seed),
                checkpoints=[m['checkpoint'] for m in per_seed],
                seconds_per_seed=[m['seconds'] for m in per_seed])


def _mean(values: np.ndarray):
    return None if np.isnan(values).any() else float(values.mean())


def _std(values: np.ndarray):
    if np.isnan(values).any():
        return None
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def paired_differences(records: List[dict], table: MethodTable) -> None:
    """Add ``paired_diff`` to each record: the method minus its baseline
    (:func:`baseline_of`), seed by seed (same seed = same start)."""
    by_method = {r['method']: r for r in records}
    for r in records:
        base = by_method.get(baseline_of(table, r['method']))
        if base is None or r['seeds'] != base['seeds']:
            continue
        d = np.array(r['miou_per_seed']) - np.array(base['miou_per_seed'])
        r['paired_diff'] = dict(vs=base['method'], mean=float(d.mean()),
                                std=float(d.std(ddof=1)) if len(d) > 1 else 0.0,
                                per_seed=d.tolist())


def _start(record: dict) -> str:
    return record['init'].split(' best checkpoint')[0]


def print_table(records: List[dict]) -> None:
    """Test mIoU per method (mean +- std, per seed, per class), then the
    paired differences and the pseudo-label summaries."""
    classes = list(records[0]['per_class_iou'])
    head = ['method', 'start', 'iters', 'mIoU (mean +- std)', 'per seed',
            'Boundary IoU'] + classes
    rows = [[r['method'], _start(r), str(r['iterations']),
             f"{100 * r['miou_mean']:.2f} +- {100 * r['miou_std']:.2f}",
             ' / '.join(f'{100 * v:.2f}' for v in r['miou_per_seed']),
             '-' if r.get('boundary_miou_mean') is None else
             f"{100 * r['boundary_miou_mean']:.2f} +- {100 * r['boundary_miou_std']:.2f}"]
            + [f"{100 * r['per_class_iou'][c]:.1f}" for c in classes]
            for r in records]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]

    def line(cells):
        return '| ' + ' | '.join(c.ljust(w) for c, w in zip(cells, widths)) + ' |'

    print(f"\nTest mIoU (%) on NC Landsat (split seed {records[0]['split_seed']}), "
          'best-on-val checkpoint per seed')
    print(line(head))
    print('|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    for r in rows:
        print(line(r))
    for r in records:
        d = r.get('paired_diff')
        if d:
            print(f"{r['method']} - {d['vs']}, paired by seed: {100 * d['mean']:+.2f} +- "
                  f"{100 * d['std']:.2f} mIoU ("
                  + ' / '.join(f'{100 * v:+.2f}' for v in d['per_seed']) + ')')
        for what, key in (('pseudo-labels', 'pseudo_labels'), ('losses', 'unsup_losses')):
            p = r.get(key)
            if p:
                print(f"{r['method']} {what} (mean over training / at the end): "
                      + ', '.join(f"{k} {v['mean']:.3f} / {v['end']:.3f}"
                                  for k, v in p.items()))
