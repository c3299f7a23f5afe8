"""The quick start's job: precompute the VLM evidence of the methods that
need it, train and test every method and seed in table order (a method with
a ``start`` from that method's best checkpoint of the same seed), then
write ``results.json``, the table and the figures."""
import json
import os
import os.path as osp
import time
from typing import Dict, List, Sequence, Tuple

from .figures import plot_curves, save_predictions
from .methods import MethodTable, config_facts, with_starts
from .results import paired_differences, print_table, summarise
from .runs import QuickstartError, prepare_data, prepare_vlm, train_and_test
from .scene_maps import save_scene_maps
from .settings import QuickstartSettings

NO_VLM_FIX = ('Give local weights with --vlm-checkpoint PATH or SEMIEARTH_VLM_CKPT=PATH '
              '(e.g. a RemoteCLIP/GeoRSCLIP file; set model_name to match), or run on a '
              "machine that can download open_clip's weights.")


def prepare_vlm_methods(table: MethodTable, methods: List[str],
                        s: QuickstartSettings) -> List[dict]:
    """Precompute the evidence of the VLM methods among ``methods``; those
    whose VLM cannot be loaded are removed from ``methods`` and returned as
    'not run' records."""
    not_run = []
    for name in [m for m in methods if config_facts(s.config_path(table[m].config)).vlm]:
        print(f'\n=== {name}: VLM evidence cache ===', flush=True)
        why = prepare_vlm(table[name], s)
        if why:
            print(f'[quickstart] {name} NOT RUN: no VLM weights could be loaded.\n'
                  f'   {why}\n   {NO_VLM_FIX}', flush=True)
            not_run.append(dict(method=name, config=table[name].config,
                                status='not run', reason=why))
            methods.remove(name)
    return not_run


def train_methods(table: MethodTable, methods: Sequence[str],
                  s: QuickstartSettings) -> Tuple[List[dict], Dict[str, List[dict]]]:
    """Train and test each method over the seeds; returns the records and
    each method's per-seed metrics."""
    records, per_method_seeds = [], {}
    for name in methods:
        method, per_seed = table[name], []
        for seed in s.seeds:
            start = None
            if method.start is not None:
                start = per_method_seeds[method.start][s.seeds.index(seed)]['checkpoint']
            print(f'\n=== {name}, seed {seed}'
                  + (f', from {osp.basename(start)}' if start else '') + ' ===', flush=True)
            m = train_and_test(method, seed, s, load_from=start)
            print(f"   test mIoU {m['mIoU']:.2f} ({m['seconds']:.0f} s)", flush=True)
            per_seed.append(m)
        records.append(summarise(method, per_seed, s))
        per_method_seeds[name] = per_seed
    return records, per_method_seeds


def write_figures(records: List[dict], per_method_seeds: Dict[str, List[dict]],
                  s: QuickstartSettings, converter) -> str:
    """predictions.png, pseudo_labels.png (when any run logged pseudo-labels)
    and the scene maps; returns the paths written, for the last line."""
    png = osp.join(s.work_dir, 'predictions.png')
    save_predictions(records, png, s.num_vis, s.data_root, s.root)
    curves = osp.join(s.work_dir, 'pseudo_labels.png')
    if plot_curves(records, per_method_seeds, curves):
        png += f', {curves}'
    scene_dir = s.scene_dir or s.work_dir
    os.makedirs(scene_dir, exist_ok=True)
    return png + ' and ' + save_scene_maps(s.work_dir, converter, s.root, scene_dir,
                                           s.data_root, records)


def run_quickstart(table: MethodTable, wanted: Sequence[str], s: QuickstartSettings,
                   converter) -> List[dict]:
    """The whole job for the ``wanted`` methods (and the runs they start
    from); returns ``results.json``'s records. ``converter``: the NC Landsat
    converter module (see :mod:`.scene_maps`). Raises
    :class:`QuickstartError` when a run fails or no method ran."""
    os.makedirs(s.work_dir, exist_ok=True)
    t0 = time.time()
    prepare_data(s)
    methods = [m for m in table if m in wanted]
    not_run = prepare_vlm_methods(table, methods, s)
    for _, start in with_starts(table, methods):
        print(f'[quickstart] the continued runs start from the {start} run: '
              f'running {start} too', flush=True)
    records, per_method_seeds = train_methods(table, methods, s)
    paired_differences(records, table)
    out = osp.join(s.work_dir, 'results.json')
    with open(out, 'w') as f:
        json.dump(records + not_run, f, indent=1)
    if not records:
        raise QuickstartError(f'no method ran; see {out}')
    print_table(records)
    for r in not_run:
        print(f"{r['method']}: not run ({r['reason']})")
    png = write_figures(records, per_method_seeds, s, converter)
    print(f'\nwrote {out} and {png} in {time.time() - t0:.0f} s')
    return records + not_run
