"""The quick-start job on the embedded NC Landsat dataset.

For each method and seed: train with ``tools/train.py`` (best checkpoint by
val mIoU), test that checkpoint on the test split with ``tools/test.py``, then
write ``work_dirs/quickstart/results.json``, print a results table and save
``work_dirs/quickstart/predictions.png`` (image / ground truth / prediction on
test tiles). Called by ``tools/quickstart.sh``, which prepares the
environment, the data and the pretrained weights first.
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
METHODS = {
    'supervised': 'configs/supervised/'
    'supervised_deeplabv3plus-mbv2_1xb8-300i_nclandsat-1of8-128x128.py',
    'fixmatch': 'configs/fixmatch/'
    'fixmatch_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py',
    'semiearth': 'configs/semiearth/'
    'semiearth_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py',
}
VLM_METHODS = ('semiearth',)  # need VLM weights and a precomputed evidence cache
PSEUDO_KEYS = ('pseudo.mask_ratio', 'pseudo.acc', 'pseudo.acc_all')
VLM_KEYS = ('vlm.changed_label_ratio', 'vlm.changed_accept_ratio', 'pseudo_before.acc',
            'pseudo_before.mask_ratio')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--methods', nargs='+', default=list(METHODS),
                   choices=list(METHODS))
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--work-dir', default='work_dirs/quickstart')
    p.add_argument('--max-iters', type=int, default=None,
                   help='override the configs\' schedule (smoke runs)')
    p.add_argument('--num-vis', type=int, default=6,
                   help='test tiles in predictions.png')
    p.add_argument('--vlm-checkpoint', default=os.environ.get('SEMIEARTH_VLM_CKPT'),
                   help='local VLM weights for the semiearth row (default: '
                   '$SEMIEARTH_VLM_CKPT; else open_clip downloads them where online)')
    return p.parse_args(argv)


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


def vlm_options(method, args):
    """--cfg-options that give a VLM method the user's weights."""
    if method in VLM_METHODS and args.vlm_checkpoint:
        return [f'model.purifier.vlm.checkpoint={osp.abspath(args.vlm_checkpoint)}']
    return []


def prepare_vlm(method, args):
    """Precompute the VLM evidence; None when ready, else why not."""
    log = osp.join(args.work_dir, method, 'precompute_vlm.log')
    os.makedirs(osp.dirname(log), exist_ok=True)
    cmd = [sys.executable, 'tools/precompute_vlm.py', METHODS[method]]
    opts = vlm_options(method, args)
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


def train_and_test(method, config, seed, args):
    wd = osp.join(args.work_dir, method, f'seed{seed}')
    shutil.rmtree(wd, ignore_errors=True)  # a stale best checkpoint must not be picked up
    os.makedirs(wd, exist_ok=True)
    py = sys.executable
    opts = [f'randomness.seed={seed}'] + vlm_options(method, args)
    if args.max_iters:
        opts += [f'train_cfg.max_iters={args.max_iters}',
                 f'train_cfg.val_interval={max(1, args.max_iters // 2)}',
                 f'param_scheduler.end={args.max_iters}',
                 f'default_hooks.checkpoint.interval={max(1, args.max_iters // 2)}']
    t0 = time.time()
    run([py, 'tools/train.py', config, '--work-dir', wd, '--cfg-options', *opts],
        osp.join(wd, 'train.log'))
    best = sorted(glob.glob(osp.join(wd, 'best_*mIoU_iter_*.pth')))
    if not best:
        sys.exit(f'no best checkpoint in {wd}: did validation run?')
    test_wd = osp.join(wd, 'test')
    test_opts = ['--cfg-options', *vlm_options(method, args)] if vlm_options(method, args) else []
    run([py, 'tools/test.py', config, best[-1], '--work-dir', test_wd, *test_opts],
        osp.join(wd, 'test.log'))
    jsons = sorted(glob.glob(osp.join(test_wd, '*', '*.json')))
    with open(jsons[-1]) as f:
        metrics = json.load(f)
    metrics['checkpoint'] = best[-1]
    metrics['seconds'] = round(time.time() - t0, 1)
    metrics['curves'] = read_curves(wd)
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


def summarise(method, config, per_seed, seeds):
    miou = np.array([m['mIoU'] for m in per_seed]) / 100
    classes = [k[4:] for k in per_seed[0] if k.startswith('IoU.')]
    per_class = {c: float(np.nanmean([m[f'IoU.{c}'] for m in per_seed]) / 100)
                 for c in classes}
    final = {}
    for k in PSEUDO_KEYS + VLM_KEYS:
        # mean of the last five logged values of each seed, then over seeds
        vals = [np.mean([v for _, v in m['curves'][k][-5:]])
                for m in per_seed if k in m['curves']]
        if vals:
            final[k] = float(np.mean(vals))
    return dict(method=method, config=config, labeled_ratio='1/8',
                dataset='nc_landsat', split='test', seeds=seeds,
                miou_mean=float(miou.mean()), miou_std=float(miou.std(ddof=1))
                if len(miou) > 1 else 0.0, miou_per_seed=miou.tolist(),
                per_class_iou=per_class, pseudo_labels_at_end=final,
                checkpoints=[m['checkpoint'] for m in per_seed],
                seconds_per_seed=[m['seconds'] for m in per_seed])


def paired_differences(records):
    """Each method minus supervised, seed by seed (same seed = same init)."""
    base = next((r for r in records if r['method'] == 'supervised'), None)
    if base is None:
        return
    for r in records:
        if r is base or r['seeds'] != base['seeds']:
            continue
        d = 100 * (np.array(r['miou_per_seed']) - np.array(base['miou_per_seed']))
        r['paired_diff_vs_supervised'] = dict(
            mean=float(d.mean() / 100), std=float(d.std(ddof=1) / 100) if len(d) > 1 else 0.0,
            per_seed=(d / 100).tolist())


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
        ax.set_xlabel('iteration', fontsize=8)
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
    head = ['method', 'ratio', 'seeds', 'mIoU (mean +- std)'] + classes
    rows = [[r['method'], r['labeled_ratio'], str(len(r['seeds'])),
             f"{100 * r['miou_mean']:.2f} +- {100 * r['miou_std']:.2f}"]
            + [f"{100 * r['per_class_iou'][c]:.1f}" for c in classes]
            for r in records]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    line = lambda cells: '| ' + ' | '.join(c.ljust(w) for c, w in zip(cells, widths)) + ' |'
    print('\nTest mIoU (%) on NC Landsat, best-on-val checkpoint per seed')
    print(line(head))
    print('|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    for r in rows:
        print(line(r))
    for r in records:
        d = r.get('paired_diff_vs_supervised')
        if d:
            print(f"{r['method']} - supervised, paired by seed: "
                  f"{100 * d['mean']:+.2f} +- {100 * d['std']:.2f} mIoU")
        p = r.get('pseudo_labels_at_end')
        if p:
            print(f"{r['method']} pseudo-labels at the end of training: "
                  + ', '.join(f'{k} {v:.3f}' for k, v in p.items()))


def save_predictions(records, path, num):
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
    root = osp.join(ROOT, cfg.data_root)
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


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    t0 = time.time()
    records, per_method_seeds, not_run = [], {}, []
    for method in args.methods:
        if method in VLM_METHODS:
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
                continue
        per_seed = []
        for seed in args.seeds:
            print(f'\n=== {method}, seed {seed} ===', flush=True)
            m = train_and_test(method, METHODS[method], seed, args)
            print(f"   test mIoU {m['mIoU']:.2f} ({m['seconds']:.0f} s)", flush=True)
            per_seed.append(m)
        records.append(summarise(method, METHODS[method], per_seed, args.seeds))
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
    save_predictions(records, png, args.num_vis)
    curves = osp.join(args.work_dir, 'pseudo_labels.png')
    if plot_curves(records, per_method_seeds, curves):
        png += f' and {curves}'
    print(f'\nwrote {out} and {png} in {time.time() - t0:.0f} s')


if __name__ == '__main__':
    main()
