"""Peak memory of whole-scene inference (tools/inference_scene.py), measured
in fresh processes: the resident set after the imports, and the peak during
inference with GDAL's cache bounded (the default) and with GDAL's own
default (5% of the machine's memory).

A synthetic ``SIZE x SIZE`` six-band uint8 scene (deflate, striped, nodata
0 in a corner), written once, is mapped by the NC Landsat FixMatch config's
model (random weights; ``--width`` scales it). ``--scale-factor 1`` and big
windows keep the run short: memory depends on the window, the scene width
and the caches, not on how many windows run.

    python tools/analysis_tools/benchmark_scene_memory.py --size 6000 --window 256
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs/fixmatch/'
                  'fixmatch_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py')

CHILD = r'''
import json, resource, sys
args = json.loads(sys.argv[1])
import semiearth  # noqa: F401
from semiearth.apis import inference_scene, init_scene_model
model = init_scene_model(args['config'], args['ckpt'], cfg_options=args['options'])
rss_ready = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
res = inference_scene(model, args['scene'], args['out'], window=args['window'], overlap=0,
                      scale_factor=1, batch_size=args['batch'], progress=False,
                      gdal_cache_mb=args['cache'], threads=args['threads'])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(dict(ready_mb=rss_ready, peak_mb=peak, seconds=res['seconds'],
                      gdal_cache_mb=res['gdal_cache_mb'], windows=res['windows_run'])))
'''


def write_scene(path: str, size: int) -> None:
    import numpy as np
    import rasterio
    rng = np.random.default_rng(0)
    with rasterio.open(path, 'w', driver='GTiff', height=size, width=size, count=6,
                       dtype='uint8', nodata=0, compress='deflate') as dst:
        for y in range(0, size, 512):
            h = min(512, size - y)
            coarse = rng.integers(1, 256, (6, h // 16 + 1, size // 16 + 1))
            block = np.repeat(np.repeat(coarse, 16, 1), 16, 2)[:, :h, :size].astype(np.uint8)
            if y < size // 4:
                block[:, :, :size // 4] = 0
            dst.write(block, window=rasterio.windows.Window(0, y, size, h))


def write_checkpoint(path: str, options: dict) -> None:
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import semiearth  # noqa: F401
    init_default_scope('mmseg')
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(options)
    torch.save(dict(state_dict=MODELS.build(cfg.model).state_dict()), path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--size', type=int, default=6000)
    p.add_argument('--window', type=int, default=256)
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--width', type=float, default=1.0, help='MobileNetV2 widen factor')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--work-dir', default=None)
    args = p.parse_args()
    work = args.work_dir or tempfile.mkdtemp(prefix='scene_memory_')
    os.makedirs(work, exist_ok=True)
    options = {'model.segmentor.backbone.init_cfg': None}
    if args.width != 1.0:
        ch = {0.25: (8, 80), 0.5: (16, 160)}[args.width]
        options.update({'model.segmentor.backbone.widen_factor': args.width,
                        'model.segmentor.decode_head.c1_in_channels': ch[0],
                        'model.segmentor.decode_head.in_channels': ch[1]})
    scene, ckpt = osp.join(work, 'scene.tif'), osp.join(work, 'model.pth')
    if not osp.isfile(scene):
        write_scene(scene, args.size)
    write_checkpoint(ckpt, options)
    rows = []
    for cache in (None, 100000.0):  # bounded (the default) / effectively unbounded
        job = dict(config=CONFIG, ckpt=ckpt, options=options, scene=scene,
                   out=osp.join(work, 'map.tif'), window=args.window, batch=args.batch,
                   cache=cache, threads=args.threads)
        proc = subprocess.run([sys.executable, '-W', 'ignore', '-c', CHILD, json.dumps(job)],
                              capture_output=True, text=True, check=True)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f'{args.size}x{args.size} px, 6 bands uint8 deflate, window {args.window}, '
          f'batch {args.batch}, widen {args.width}, {args.threads} thread(s)')
    print(f"{'GDAL cache':>14} {'RSS ready':>10} {'peak RSS':>9} {'seconds':>8}")
    for label, r in zip(('bounded', 'unbounded'), rows):
        print(f"{label + ' ' + str(int(r['gdal_cache_mb'])) + ' MB':>14} "
              f"{r['ready_mb']:>8.0f}MB {r['peak_mb']:>7.0f}MB {r['seconds']:>8.1f}")


if __name__ == '__main__':
    main()
