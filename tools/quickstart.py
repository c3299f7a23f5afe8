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
    'supervised_deeplabv3plus-mbv2_1xb8-400i_nclandsat-1of8-128x128.py',
}


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


def train_and_test(method, config, seed, args):
    wd = osp.join(args.work_dir, method, f'seed{seed}')
    shutil.rmtree(wd, ignore_errors=True)  # a stale best checkpoint must not be picked up
    os.makedirs(wd, exist_ok=True)
    py = sys.executable
    opts = [f'randomness.seed={seed}']
    if args.max_iters:
        opts += [f'train_cfg.max_iters={args.max_iters}',
                 f'train_cfg.val_interval={max(1, args.max_iters // 2)}',
                 f'param_scheduler.0.end={args.max_iters}',
                 f'default_hooks.checkpoint.interval={max(1, args.max_iters // 2)}']
    t0 = time.time()
    run([py, 'tools/train.py', config, '--work-dir', wd, '--cfg-options', *opts],
        osp.join(wd, 'train.log'))
    best = sorted(glob.glob(osp.join(wd, 'best_mIoU_iter_*.pth')))
    if not best:
        sys.exit(f'no best checkpoint in {wd}: did validation run?')
    test_wd = osp.join(wd, 'test')
    run([py, 'tools/test.py', config, best[-1], '--work-dir', test_wd],
        osp.join(wd, 'test.log'))
    jsons = sorted(glob.glob(osp.join(test_wd, '*', '*.json')))
    with open(jsons[-1]) as f:
        metrics = json.load(f)
    metrics['checkpoint'] = best[-1]
    metrics['seconds'] = round(time.time() - t0, 1)
    return metrics


def summarise(method, config, per_seed, seeds):
    miou = np.array([m['mIoU'] for m in per_seed]) / 100
    classes = [k[4:] for k in per_seed[0] if k.startswith('IoU.')]
    per_class = {c: float(np.nanmean([m[f'IoU.{c}'] for m in per_seed]) / 100)
                 for c in classes}
    return dict(method=method, config=config, labeled_ratio='1/8',
                dataset='nc_landsat', split='test', seeds=seeds,
                miou_mean=float(miou.mean()), miou_std=float(miou.std(ddof=1))
                if len(miou) > 1 else 0.0, miou_per_seed=miou.tolist(),
                per_class_iou=per_class,
                checkpoints=[m['checkpoint'] for m in per_seed],
                seconds_per_seed=[m['seconds'] for m in per_seed])


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


def save_predictions(record, path, num):
    """image | ground truth | prediction for the first test tiles."""
    sys.path.insert(0, osp.join(ROOT, 'projects'))
    import semiearth  # noqa: F401
    import cv2
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from mmengine.config import Config
    from mmseg.apis import inference_model, init_model
    cfg = Config.fromfile(osp.join(ROOT, record['config']))
    # the seed whose test mIoU is the median
    order = np.argsort(record['miou_per_seed'])
    ckpt = record['checkpoints'][order[len(order) // 2]]
    model = init_model(cfg, ckpt, device='cpu')
    root = osp.join(ROOT, cfg.data_root)
    names = [s.strip() for s in open(osp.join(root, 'splits/test.txt')) if s.strip()]
    names = [names[i] for i in np.linspace(0, len(names) - 1, num).round().astype(int)]
    palette = np.array(cfg.get('palette', None) or model.dataset_meta['palette'], np.uint8)

    def colour(label):
        out = np.full(label.shape + (3,), 255, np.uint8)  # ignore = white
        ok = label < len(palette)
        out[ok] = palette[label[ok]]
        return out

    fig, axes = plt.subplots(num, 3, figsize=(6, 2 * num))
    for row, name in zip(np.atleast_2d(axes), names):
        img = cv2.imread(osp.join(root, 'img_dir/rgb', name + '.png'))[..., ::-1]
        gt = cv2.imread(osp.join(root, 'ann_dir', name + '.png'), cv2.IMREAD_UNCHANGED)
        res = inference_model(model, osp.join(root, cfg.img_prefix, name + cfg.img_suffix))
        pred = res.pred_sem_seg.data[0].cpu().numpy().astype(np.int64)
        pred[gt == 255] = 255  # not evaluated (nodata): shown white as in the GT
        for ax, im, title in zip(row, (img, colour(gt), colour(pred)),
                                 ('image (RGB 30/20/10)', 'ground truth', record['method'])):
            ax.imshow(im, interpolation='nearest')
            ax.set_title(f'{title}\n{name}' if title.startswith('image') else title, fontsize=7)
            ax.axis('off')
    classes = model.dataset_meta['classes']
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette[i] / 255) for i in range(len(classes))]
    fig.legend(handles, classes, loc='lower center', ncol=3, fontsize=7)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    t0 = time.time()
    records = []
    for method in args.methods:
        per_seed = []
        for seed in args.seeds:
            print(f'\n=== {method}, seed {seed} ===', flush=True)
            m = train_and_test(method, METHODS[method], seed, args)
            print(f"   test mIoU {m['mIoU']:.2f} ({m['seconds']:.0f} s)", flush=True)
            per_seed.append(m)
        records.append(summarise(method, METHODS[method], per_seed, args.seeds))
    out = osp.join(args.work_dir, 'results.json')
    with open(out, 'w') as f:
        json.dump(records, f, indent=1)
    print_table(records)
    png = osp.join(args.work_dir, 'predictions.png')
    save_predictions(records[-1], png, args.num_vis)
    print(f'\nwrote {out} and {png} in {time.time() - t0:.0f} s')


if __name__ == '__main__':
    main()
