"""The quick-start job on the embedded NC Landsat dataset.

Two stages, each method and seed trained with ``tools/train.py`` (best
checkpoint by val mIoU) and tested on the test split with ``tools/test.py``:

1. ``supervised``: from ImageNet weights, the config's schedule (300
   iterations).
2. From that run's best checkpoint, same seed, ``--continue-iters`` more
   iterations each: ``supervised_continued`` (the fair baseline: same start,
   same iterations, same learning-rate schedule), ``fixmatch`` and
   ``semiearth``. Started from a confident model, the EMA teacher's
   pseudo-labels pass the 0.95 threshold from the first steps (from ImageNet
   weights and 300 iterations none ever did).

Writes ``work_dirs/quickstart/results.json`` (one record per method; the
semi-supervised ones are compared with ``supervised_continued`` seed by
seed), prints a results table, and saves ``predictions.png`` (image / ground
truth / each method's prediction on test tiles) and ``pseudo_labels.png``
(share of unlabeled pixels passing the threshold and their accuracy over the
iterations). Then it maps the whole scene with each method's median-seed
best checkpoint (the one ``predictions.png`` shows) through
:func:`semiearth.apis.inference_scene`: ``scene_input_ms6.tif`` (the model
input: the converter's six uint8 bands of the full scene), ``scene_<method>.tif``
(class maps) and ``scene_maps.png`` (RGB, ground truth, each map, legend).
``--scene-maps-only`` redoes just that step on an existing work dir.
Called by ``tools/quickstart.sh``, which prepares the environment, the data
and the pretrained weights first.
"""
import argparse
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_DATA_ROOT = 'data/nc_landsat'  # the configs' data_root
SUPERVISED = ('configs/supervised/'
              'supervised_deeplabv3plus-mbv2_1xb8-300i_nclandsat-1of8-128x128.py')
METHODS = {
    'supervised': SUPERVISED,
    'supervised_continued': SUPERVISED,
    'fixmatch': 'configs/fixmatch/'
    'fixmatch_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py',
    'semiearth': 'configs/semiearth/'
    'semiearth_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py',
}
# stage 2: these start from the supervised run's best checkpoint of the same seed
CONTINUED = ('supervised_continued', 'fixmatch', 'semiearth')
# what each method is compared with, seed by seed
BASELINE = {'supervised_continued': 'supervised', 'fixmatch': 'supervised_continued',
            'semiearth': 'supervised_continued'}
SEMI = ('fixmatch', 'semiearth')
VLM_METHODS = ('semiearth',)  # need VLM weights and a precomputed evidence cache
PSEUDO_KEYS = ('pseudo.mask_ratio', 'pseudo.acc', 'pseudo.acc_all')
VLM_KEYS = ('vlm.changed_label_ratio', 'vlm.changed_accept_ratio', 'pseudo_before.acc',
            'pseudo_before.mask_ratio')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--methods', nargs='+', default=list(METHODS),
                   choices=list(METHODS))
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--continue-iters', type=int, default=150,
                   help='iterations of the runs started from the supervised checkpoint')
    p.add_argument('--split-seed', type=int, default=0,
                   help='which random spatial split of the scene (0: data/nc_landsat; K: '
                   'data/nc_landsat_splitK, converted on first use)')
    p.add_argument('--work-dir', default=None,
                   help='default: work_dirs/quickstart (split seed K: ..._splitK)')
    p.add_argument('--data-root', default=None,
                   help='converted data (default: data/nc_landsat, or '
                   'data/nc_landsat_splitK for split seed K)')
    p.add_argument('--cfg-options', nargs='+', default=[],
                   help='KEY=VALUE added to every training and test run')
    p.add_argument('--max-iters', type=int, default=None,
                   help='override the supervised schedule (smoke runs)')
    p.add_argument('--num-vis', type=int, default=6,
                   help='test tiles in predictions.png')
    p.add_argument('--vlm-checkpoint', default=os.environ.get('SEMIEARTH_VLM_CKPT'),
                   help='local VLM weights for the semiearth row (default: '
                   '$SEMIEARTH_VLM_CKPT; else open_clip downloads them where online)')
    p.add_argument('--scene-maps-only', action='store_true',
                   help="train nothing: map the whole scene with the checkpoints listed in "
                   "WORK_DIR/results.json (writes scene_maps.png and scene_<method>.tif)")
    p.add_argument('--scene-dir', default=None,
                   help='where the scene maps go (default: the work dir)')
    p.add_argument('--write-scene-input', metavar='OUT.tif', default=None,
                   help='only write the full scene as the NC Landsat models take it (six '
                   'uint8 bands, nodata 0, georeferenced) to OUT.tif, and exit')
    args = p.parse_args(argv)
    suffix = f'_split{args.split_seed}' if args.split_seed else ''
    args.work_dir = args.work_dir or f'work_dirs/quickstart{suffix}'
    args.data_root = args.data_root or f'data/nc_landsat{suffix}'
    return args


def run(cmd, log_path):
    """Run a tool, echoing its progress lines and keeping the full log."""
    print('$ ' + ' '.join(cmd), flush=True)
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            log.write(line)
            if 'Iter(train)' in line or 'Iter(val)' in line or 'Iter(test)' in line:
                # keep the progress readable: time stamp, iteration, loss or metric
                print('   ' + line.split(' - mmengine - INFO - ')[-1].strip()[:160],
                      flush=True)
        if proc.wait() != 0:
            sys.exit(f'{cmd[1]} failed (exit {proc.returncode}); full log: {log_path}')


def data_options(method, args):
    """--cfg-options pointing a config at the data (none for the configs' own
    data root)."""
    if args.data_root == DEFAULT_DATA_ROOT:
        return []
    train = (['train_dataloader.dataset.labeled', 'train_dataloader.dataset.unlabeled']
             if method in SEMI else ['train_dataloader.dataset'])
    opts = [f'{ds}.data_root={args.data_root}'
            for ds in train + ['val_dataloader.dataset', 'test_dataloader.dataset']]
    if method in VLM_METHODS:
        opts.append(f'model.purifier.cache_dir={args.data_root}/vlm_cache/vit-b16_segearth')
    return opts


def method_options(method, args):
    """--cfg-options every tool run of ``method`` needs (data, VLM weights)."""
    opts = data_options(method, args) + list(args.cfg_options)
    if method in VLM_METHODS and args.vlm_checkpoint:
        opts.append(f'model.purifier.vlm.checkpoint={osp.abspath(args.vlm_checkpoint)}')
    return opts


def prepare_data(args):
    """Convert the scene with this split seed if not done yet."""
    if args.split_seed and not osp.isfile(osp.join(ROOT, args.data_root, 'meta.json')):
        print(f'[quickstart] converting the scene with split seed {args.split_seed} -> '
              f'{args.data_root}', flush=True)
        subprocess.run([sys.executable, 'tools/dataset_converters/nc_landsat.py', '--out',
                        args.data_root, '--split-seed', str(args.split_seed)],
                       cwd=ROOT, check=True)


def prepare_vlm(method, args):
    """Precompute the VLM evidence; None when ready, else why not."""
    log = osp.join(args.work_dir, method, 'precompute_vlm.log')
    os.makedirs(osp.dirname(log), exist_ok=True)
    cmd = [sys.executable, 'tools/precompute_vlm.py', METHODS[method]]
    opts = method_options(method, args)
    if opts:
        cmd += ['--cfg-options', *opts]
    print('$ ' + ' '.join(cmd), flush=True)
    with open(log, 'w') as f:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, text=True)
    if proc.returncode == 0:
        return None
    with open(log) as f:
        lines = [line.strip() for line in f if line.strip()]
    return (lines[-1] if lines else f'exit {proc.returncode}') + f' (full log: {log})'


def schedule_options(iters):
    """Train ``iters`` iterations, validating (and checkpointing) 3 times."""
    every = max(1, iters // 3)
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={every}',
            f'param_scheduler.end={iters}', f'default_hooks.checkpoint.interval={every}']


def train_and_test(method, seed, args, load_from=None):
    config = METHODS[method]
    wd = osp.join(args.work_dir, method, f'seed{seed}')
    shutil.rmtree(wd, ignore_errors=True)  # a stale best checkpoint must not be picked up
    os.makedirs(wd, exist_ok=True)
    py = sys.executable
    opts = [f'randomness.seed={seed}'] + method_options(method, args)
    if load_from:
        opts += [f'load_from={load_from}'] + schedule_options(args.continue_iters)
    elif args.max_iters:
        opts += schedule_options(args.max_iters)
    t0 = time.time()
    run([py, 'tools/train.py', config, '--work-dir', wd, '--cfg-options', *opts],
        osp.join(wd, 'train.log'))
    best = sorted(glob.glob(osp.join(wd, 'best_*mIoU_iter_*.pth')))
    if not best:
        sys.exit(f'no best checkpoint in {wd}: did validation run?')
    test_wd = osp.join(wd, 'test')
    test_opts = method_options(method, args)
    run([py, 'tools/test.py', config, best[-1], '--work-dir', test_wd,
         *(['--cfg-options', *test_opts] if test_opts else [])],
        osp.join(wd, 'test.log'))
    jsons = sorted(glob.glob(osp.join(test_wd, '*', '*.json')))
    with open(jsons[-1]) as f:
        metrics = json.load(f)
    metrics['checkpoint'] = best[-1]
    metrics['seconds'] = round(time.time() - t0, 1)
    metrics['curves'] = read_curves(wd)
    metrics['val_miou'] = best_val(wd)
    return metrics


def read_curves(work_dir):
    """Pseudo-label diagnostics logged during training, by iteration."""
    curves = {k: [] for k in PSEUDO_KEYS + VLM_KEYS}
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                for k in curves:
                    if k in rec and 'iter' in rec:
                        curves[k].append((rec['iter'], rec[k]))
    return {k: sorted(v) for k, v in curves.items() if v}


def best_val(work_dir):
    """The best val mIoU of a run (the teacher's for semi runs), in %."""
    best = None
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                value = rec.get('teacher/mIoU', rec.get('mIoU'))
                if value is not None and 'iter' not in rec:
                    best = value if best is None else max(best, value)
    return best


def summarise(method, per_seed, seeds, args):
    miou = np.array([m['mIoU'] for m in per_seed]) / 100
    classes = [k[4:] for k in per_seed[0] if k.startswith('IoU.')]
    per_class = {c: float(np.nanmean([m[f'IoU.{c}'] for m in per_seed]) / 100)
                 for c in classes}
    pseudo = {}
    for k in PSEUDO_KEYS + VLM_KEYS:
        runs = [[v for _, v in m['curves'][k]] for m in per_seed if k in m['curves']]
        if runs:
            # over the whole run, and the last five logged values; then over seeds
            pseudo[k] = dict(mean=float(np.mean([np.mean(r) for r in runs])),
                             end=float(np.mean([np.mean(r[-5:]) for r in runs])))
    continued = method in CONTINUED
    return dict(method=method, config=METHODS[method], labeled_ratio='1/8',
                dataset='nc_landsat', split_seed=args.split_seed, split='test',
                init='supervised best checkpoint, same seed' if continued else 'ImageNet',
                iterations=args.continue_iters if continued else (args.max_iters or 300),
                seeds=seeds, miou_mean=float(miou.mean()),
                miou_std=float(miou.std(ddof=1)) if len(miou) > 1 else 0.0,
                miou_per_seed=miou.tolist(),
                val_miou_per_seed=[m['val_miou'] and m['val_miou'] / 100 for m in per_seed],
                per_class_iou=per_class, pseudo_labels=pseudo,
                checkpoints=[m['checkpoint'] for m in per_seed],
                seconds_per_seed=[m['seconds'] for m in per_seed])


def paired_differences(records):
    """Each method minus its baseline (BASELINE), seed by seed (same seed =
    same start)."""
    by_method = {r['method']: r for r in records}
    for r in records:
        base = by_method.get(BASELINE.get(r['method']))
        if base is None or r['seeds'] != base['seeds']:
            continue
        d = np.array(r['miou_per_seed']) - np.array(base['miou_per_seed'])
        r['paired_diff'] = dict(vs=base['method'], mean=float(d.mean()),
                                std=float(d.std(ddof=1)) if len(d) > 1 else 0.0,
                                per_seed=d.tolist())


def plot_curves(records, per_method_seeds, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    semi = [(r, per_method_seeds[r['method']]) for r in records
            if any(m['curves'] for m in per_method_seeds[r['method']])]
    if not semi:
        return False
    fig, axes = plt.subplots(1, len(PSEUDO_KEYS), figsize=(12, 3.2))
    for ax, key in zip(axes, PSEUDO_KEYS):
        for r, runs in semi:
            for seed, m in zip(r['seeds'], runs):
                if key in m['curves']:
                    it, val = zip(*m['curves'][key])
                    ax.plot(it, val, label=f"{r['method']} s{seed}", lw=1)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel('iteration (from the supervised checkpoint)', fontsize=8)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle('Unlabeled pixels passing the threshold (mask_ratio) and pseudo-label '
                 'accuracy on them (acc) / on all pixels (acc_all)', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def print_table(records):
    classes = list(records[0]['per_class_iou'])
    head = ['method', 'start', 'iters', 'mIoU (mean +- std)', 'per seed'] + classes
    rows = [[r['method'], 'ImageNet' if r['init'] == 'ImageNet' else 'supervised',
             str(r['iterations']), f"{100 * r['miou_mean']:.2f} +- {100 * r['miou_std']:.2f}",
             ' / '.join(f'{100 * v:.2f}' for v in r['miou_per_seed'])]
            + [f"{100 * r['per_class_iou'][c]:.1f}" for c in classes]
            for r in records]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    line = lambda cells: '| ' + ' | '.join(c.ljust(w) for c, w in zip(cells, widths)) + ' |'
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
        p = r.get('pseudo_labels')
        if p:
            print(f"{r['method']} pseudo-labels (mean over training / at the end): "
                  + ', '.join(f"{k} {v['mean']:.3f} / {v['end']:.3f}" for k, v in p.items()))


def save_predictions(records, path, num, data_root):
    """image | ground truth | one prediction per method, on test tiles spread
    over the test split (each method's median-seed checkpoint)."""
    sys.path.insert(0, osp.join(ROOT, 'projects'))
    import semiearth  # noqa: F401
    import cv2
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from mmengine.config import Config
    from mmseg.apis import inference_model, init_model

    models = []
    for r in records:
        cfg = Config.fromfile(osp.join(ROOT, r['config']))
        order = np.argsort(r['miou_per_seed'])
        models.append((r['method'], cfg, init_model(cfg, r['checkpoints'][order[len(order) // 2]],
                                                    device='cpu')))
    cfg = models[0][1]
    meta = models[0][2].dataset_meta
    palette = np.array(meta['palette'], np.uint8)
    root = osp.join(ROOT, data_root)
    names = [s.strip() for s in open(osp.join(root, 'splits/test.txt')) if s.strip()]
    names = [names[i] for i in np.linspace(0, len(names) - 1, num).round().astype(int)]

    def colour(label):
        out = np.full(label.shape + (3,), 255, np.uint8)  # ignore / nodata = white
        ok = label < len(palette)
        out[ok] = palette[label[ok]]
        return out

    cols = 2 + len(models)
    fig, axes = plt.subplots(num, cols, figsize=(2 * cols, 2 * num), squeeze=False)
    for row, name in zip(axes, names):
        img = cv2.imread(osp.join(root, 'img_dir/rgb', name + '.png'))[..., ::-1]
        gt = cv2.imread(osp.join(root, 'ann_dir', name + '.png'), cv2.IMREAD_UNCHANGED)
        panels = [(img, f'image (RGB)\n{name}'), (colour(gt), 'ground truth')]
        for method, mcfg, model in models:
            res = inference_model(model, osp.join(root, mcfg.img_prefix, name + mcfg.img_suffix))
            pred = res.pred_sem_seg.data[0].cpu().numpy().astype(np.int64)
            pred[gt == 255] = 255  # not evaluated (nodata): white as in the GT
            panels.append((colour(pred), method))
        for ax, (im, title) in zip(row, panels):
            ax.imshow(im, interpolation='nearest')
            ax.set_title(title, fontsize=7)
            ax.axis('off')
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette[i] / 255)
               for i in range(len(meta['classes']))]
    fig.legend(handles, meta['classes'], loc='lower center', ncol=3, fontsize=7)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _converter():
    """tools/dataset_converters/nc_landsat.py as a module: the scene input
    must be stretched exactly as the training tiles were."""
    import importlib.util
    path = osp.join(ROOT, 'tools', 'dataset_converters', 'nc_landsat.py')
    spec = importlib.util.spec_from_file_location('nc_landsat_converter', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_scene_input(path, src=None):
    """Write the whole NC Landsat scene as the models take it: the
    converter's six uint8 bands 10/20/30/40/50/70 (2-98 percentile stretch to
    1..255, band 70's holes filled, nodata 0), with the source rasters' CRS
    and transform. Returns (image H x W x 6, label H x W with 255 = ignore)."""
    import rasterio
    conv = _converter()
    src = src or conv.default_source()
    bands, strata = conv.read_scene(src)
    img, label, _, _ = conv.to_tiles_input(bands, strata)
    with rasterio.open(osp.join(src, f'lsat7_2000_{conv.BANDS[0]}.tif')) as ref:
        crs, transform = ref.crs, ref.transform
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with rasterio.open(path, 'w', driver='GTiff', height=img.shape[0], width=img.shape[1],
                       count=img.shape[2], dtype='uint8', crs=crs, transform=transform,
                       nodata=0, compress='deflate') as dst:
        dst.write(img.transpose(2, 0, 1))
        for i, band in enumerate(conv.BANDS, 1):
            dst.set_band_description(i, f'lsat7_2000_{band}')
    return img, label


def scene_checkpoint(record, work_dir):
    """The median-seed best checkpoint of a method (as predictions.png), found
    in ``work_dir`` (results.json's paths are relative to where the run was
    started); returns (path, seed, test mIoU)."""
    order = np.argsort(record['miou_per_seed'])
    i = int(order[len(order) // 2])
    seed = record['seeds'][i]
    path = osp.join(work_dir, record['method'], f'seed{seed}',
                    osp.basename(record['checkpoints'][i]))
    if not osp.isfile(path):
        raise FileNotFoundError(f"{record['method']} seed {seed}: checkpoint '{path}' is "
                                f"missing (results.json lists {record['checkpoints'][i]}). "
                                'Fix: rerun the quick start for this work dir.')
    return path, seed, record['miou_per_seed'][i]


def save_scene_maps(work_dir, out_dir=None, data_root=DEFAULT_DATA_ROOT, records=None,
                    src=None, window=None, overlap=None):
    """Map the whole scene with each method's median-seed best checkpoint and
    write ``scene_input_ms6.tif``, ``scene_<method>.tif``, ``scene_maps.json``
    and ``scene_maps.png`` (RGB | ground truth | one map per method, legend)
    into ``out_dir`` (default ``work_dir``). ``records``: results.json's
    (default: read from ``work_dir``). ``data_root``: the converted data the
    models were tested on (the test pipeline's resize factor is read there).
    Returns the path of the png."""
    sys.path.insert(0, osp.join(ROOT, 'projects'))
    import semiearth  # noqa: F401
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import rasterio
    from semiearth.apis import inference_scene, init_scene_model

    out_dir = out_dir or work_dir
    if records is None:
        path = osp.join(work_dir, 'results.json')
        if not osp.isfile(path):
            raise FileNotFoundError(f"no '{path}'. Fix: give the --work-dir of a finished "
                                    'quick start.')
        with open(path) as f:
            records = json.load(f)
    records = [r for r in records if r.get('checkpoints')]  # not-run methods have none
    if not records:
        raise ValueError(f'{work_dir}/results.json lists no trained method to map')
    data_root = data_root if osp.isabs(data_root) else osp.join(ROOT, data_root)
    if not osp.isdir(data_root):
        # the test pipeline's resize factor is measured on a converted test tile
        raise FileNotFoundError(f"converted data '{data_root}' does not exist. Fix: "
                                '--data-root DIR (the data the runs were tested on), or '
                                'python tools/dataset_converters/nc_landsat.py.')
    scene_tif = osp.join(out_dir, 'scene_input_ms6.tif')
    img, gt = write_scene_input(scene_tif, src)
    palette = None
    maps, summary = [], {}
    for r in records:
        ckpt, seed, miou = scene_checkpoint(r, work_dir)
        model = init_scene_model(osp.join(ROOT, r['config']), ckpt, cfg_options={
            'test_dataloader.dataset.data_root': data_root})
        out = osp.join(out_dir, f"scene_{r['method']}.tif")
        print(f"[quickstart] scene map of {r['method']} ({model.which}, seed {seed}, "
              f'{osp.basename(ckpt)}) -> {out}', flush=True)
        res = inference_scene(model, scene_tif, out, window=window, overlap=overlap,
                              progress=False)
        print(f"   {res['windows_run']} windows of {res['window']} px (overlap "
              f"{res['overlap']}, x{res['scale_factor']:g}) in {res['seconds']:.1f} s",
              flush=True)
        with rasterio.open(out) as f:
            pred = f.read(1)
        labelled = (gt != 255) & (pred != 255)
        agree = float((pred[labelled] == gt[labelled]).mean())
        palette = np.array(model.dataset_meta['palette'], np.uint8)
        classes = model.dataset_meta['classes']
        maps.append((r['method'], seed, miou, agree, pred))
        summary[r['method']] = dict(
            checkpoint=ckpt, seed=seed, model=model.which, test_miou=miou, map=out,
            agreement_all_labelled_px=agree, window=res['window'], overlap=res['overlap'],
            scale_factor=res['scale_factor'], seconds=res['seconds'])
    with open(osp.join(out_dir, 'scene_maps.json'), 'w') as f:
        json.dump(summary, f, indent=1)

    def colour(label):
        out = np.full(label.shape + (3,), 255, np.uint8)  # ignore / nodata = white
        ok = label < len(palette)
        out[ok] = palette[label[ok]]
        return out

    conv = _converter()
    rgb = img[..., list(conv.RGB)]
    panels = [(rgb, 'image (RGB: bands 30/20/10)'),
              (colour(gt), 'ground truth (strata.tif)')]
    for method, seed, miou, agree, pred in maps:
        panels.append((colour(pred), f'{method} (seed {seed}, test mIoU {100 * miou:.1f})\n'
                       f'agrees with the map on {100 * agree:.0f}% of labelled px'))
    cols = len(panels)
    fig, axes = plt.subplots(1, cols, figsize=(3.2 * cols, 3.6), squeeze=False)
    for ax, (im, title) in zip(axes[0], panels):
        ax.imshow(im, interpolation='nearest')
        ax.set_title(title, fontsize=7)
        ax.axis('off')
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette[i] / 255) for i in range(len(classes))]
    handles.append(plt.Rectangle((0, 0), 1, 1, facecolor='white', edgecolor='0.5'))
    fig.legend(handles, list(classes) + ['nodata / not labelled'], loc='lower center',
               ncol=len(handles), fontsize=7)
    fig.suptitle('Whole NC Landsat scene (training, val and test areas alike; agreement '
                 'includes the training tiles)', fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    png = osp.join(out_dir, 'scene_maps.png')
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def main(argv=None):
    args = parse_args(argv)
    if args.write_scene_input or args.scene_maps_only:
        try:
            if args.write_scene_input:
                write_scene_input(args.write_scene_input)
                print(f'wrote {args.write_scene_input}')
            else:
                out_dir = args.scene_dir or args.work_dir
                os.makedirs(out_dir, exist_ok=True)
                print(f'wrote {save_scene_maps(args.work_dir, out_dir, args.data_root)}')
        except (FileNotFoundError, OSError, ValueError) as e:
            sys.exit(f'[quickstart] {e}')
        return
    os.makedirs(args.work_dir, exist_ok=True)
    t0 = time.time()
    prepare_data(args)
    methods = [m for m in METHODS if m in args.methods]
    not_run = []
    for method in [m for m in methods if m in VLM_METHODS]:
        print(f'\n=== {method}: VLM evidence cache ===', flush=True)
        why = prepare_vlm(method, args)
        if why:
            print(f'[quickstart] {method} NOT RUN: no VLM weights could be loaded.\n'
                  f'   {why}\n   Give local weights with --vlm-checkpoint PATH or '
                  'SEMIEARTH_VLM_CKPT=PATH (e.g. a RemoteCLIP/GeoRSCLIP file; set '
                  'model_name to match), or run on a machine that can download '
                  "open_clip's weights.", flush=True)
            not_run.append(dict(method=method, config=METHODS[method],
                                status='not run', reason=why))
            methods.remove(method)
    if any(m in CONTINUED for m in methods) and 'supervised' not in methods:
        print('[quickstart] the continued runs start from the supervised run: '
              'running supervised too', flush=True)
        methods.insert(0, 'supervised')
    records, per_method_seeds = [], {}
    for method in methods:
        per_seed = []
        for seed in args.seeds:
            start = None
            if method in CONTINUED:
                start = per_method_seeds['supervised'][args.seeds.index(seed)]['checkpoint']
            print(f'\n=== {method}, seed {seed}'
                  + (f', from {osp.basename(start)}' if start else '') + ' ===', flush=True)
            m = train_and_test(method, seed, args, load_from=start)
            print(f"   test mIoU {m['mIoU']:.2f} ({m['seconds']:.0f} s)", flush=True)
            per_seed.append(m)
        records.append(summarise(method, per_seed, args.seeds, args))
        per_method_seeds[method] = per_seed
    paired_differences(records)
    out = osp.join(args.work_dir, 'results.json')
    with open(out, 'w') as f:
        json.dump(records + not_run, f, indent=1)
    if not records:
        sys.exit(f'no method ran; see {out}')
    print_table(records)
    for r in not_run:
        print(f"{r['method']}: not run ({r['reason']})")
    png = osp.join(args.work_dir, 'predictions.png')
    save_predictions(records, png, args.num_vis, args.data_root)
    curves = osp.join(args.work_dir, 'pseudo_labels.png')
    if plot_curves(records, per_method_seeds, curves):
        png += f', {curves}'
    scene_dir = args.scene_dir or args.work_dir
    os.makedirs(scene_dir, exist_ok=True)
    png += ' and ' + save_scene_maps(args.work_dir, scene_dir, args.data_root, records)
    print(f'\nwrote {out} and {png} in {time.time() - t0:.0f} s')


if __name__ == '__main__':
    main()
