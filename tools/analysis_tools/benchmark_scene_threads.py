"""Seconds of whole-scene inference per torch thread setting, side by side,
in one run: 1 thread, 2, ..., torch's default, and what
``tools/inference_scene.py`` picks by default (``auto_threads``: the cores
not busy by the 1-minute load average).

The NC Landsat FixMatch config's model (random weights, full width) maps a
synthetic six-band scene with the quick start's settings (32-px windows,
overlap 8, x4). Each setting runs ``--repeats`` times after a warm-up; the
median is reported with its ratio to one thread.

    python tools/analysis_tools/benchmark_scene_threads.py --size 160
"""
import argparse
import os
import os.path as osp
import statistics
import tempfile

import numpy as np
import rasterio
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import semiearth  # noqa: F401
from semiearth.apis.scene_inference import auto_threads, inference_scene, init_scene_model

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs/fixmatch/'
                  'fixmatch_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py')


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--size', type=int, default=160, help='scene side in pixels')
    p.add_argument('--repeats', type=int, default=3)
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix='scene_threads_')
    scene, ckpt = osp.join(work, 'scene.tif'), osp.join(work, 'model.pth')
    arr = np.random.default_rng(0).integers(1, 256, (6, args.size, args.size), dtype=np.uint8)
    with rasterio.open(scene, 'w', driver='GTiff', height=args.size, width=args.size, count=6,
                       dtype='uint8', nodata=0) as dst:
        dst.write(arr)
    options = {'model.segmentor.backbone.init_cfg': None}
    init_default_scope('mmseg')
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(options)
    torch.save(dict(state_dict=MODELS.build(cfg.model).state_dict()), ckpt)
    model = init_scene_model(CONFIG, ckpt, cfg_options=options)
    default = torch.get_num_threads()
    settings = sorted({1, 2, default}) + [auto_threads()]
    labels = [str(n) for n in settings[:-1]] + [f'auto={settings[-1]}']

    def run(n: int) -> float:
        res = inference_scene(model, scene, osp.join(work, 'map.tif'), window=32, overlap=8,
                              scale_factor=4, threads=n, progress=False)
        return res['seconds']

    run(1)  # warm-up
    times = [statistics.median(run(n) for _ in range(args.repeats)) for n in settings]
    load = os.getloadavg()[0]
    print(f'{args.size}x{args.size} px, 32-px windows x4, cores {os.cpu_count()}, '
          f"load {load:.1f}, torch default {default} threads")
    print('threads  ' + ''.join(f'{lab:>10}' for lab in labels))
    print('seconds  ' + ''.join(f'{t:>10.2f}' for t in times))
    print('vs 1     ' + ''.join(f'{t / times[0]:>10.2f}' for t in times))


if __name__ == '__main__':
    main()
