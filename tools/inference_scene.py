"""Map a whole multi-band GeoTIFF with a trained segmentor, window by window.

Usage::

    python tools/inference_scene.py CONFIG CHECKPOINT IN.tif OUT.tif \\
        [--model teacher|student] [--window N] [--overlap N] [--scale-factor S] \\
        [--batch-size B] [--nodata V] [--confidence] [--gdal-cache-mb MB] \\
        [--threads N] [--cfg-options KEY=VALUE ...]

OUT.tif: one uint8 band of class indices on the input's grid (CRS and
transform), the dataset palette as colour table, 255 (the GeoTIFF nodata)
where the input is nodata (GDAL's dataset mask: mask band, alpha band or
per-band nodata). ``--confidence`` also writes
``OUT_confidence.tif`` (float32 max softmax, nodata 0). IN.tif must hold the
bands the model was trained on, in training order and value range; see
docs/inference.md.
"""
import argparse
import os.path as osp
import sys
import time

import semiearth  # noqa: F401  (registers SemiEarth's components)
from semiearth.apis.cli import CfgOptionsAction
from semiearth.apis.plain_model import PlainModelError
from semiearth.apis.scene_inference import auto_threads, inference_scene, init_scene_model


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('input', help='multi-band GeoTIFF (any size)')
    p.add_argument('output', help='class-map GeoTIFF to write')
    p.add_argument('--model', choices=['teacher', 'student'], default=None,
                   help='which half of a teacher-student checkpoint (default: the '
                   "config's semi_test_cfg.predict_on, i.e. the teacher); not for a "
                   'single-model checkpoint')
    p.add_argument('--window', type=int, default=None,
                   help='window side in input pixels (default: the model crop / scale '
                   'factor; 32 for the NC Landsat configs)')
    p.add_argument('--overlap', type=int, default=None,
                   help='pixels shared by neighbouring windows (default: window // 4, '
                   'or the slide test mode\'s crop - stride)')
    p.add_argument('--scale-factor', type=float, default=None,
                   help='resize factor applied to each window before the model (default: '
                   "what the config's test pipeline does to a test tile; 4 for NC Landsat)")
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--nodata', type=float, default=None,
                   help="nodata value for every band, instead of the file's mask (default: "
                   "GDAL's dataset mask: mask band, alpha band or per-band nodata); a pixel "
                   'with EVERY band equal to it gets 255')
    p.add_argument('--confidence', action='store_true',
                   help='also write OUT_confidence.tif (max softmax, float32, nodata 0)')
    p.add_argument('--gdal-cache-mb', type=float, default=None,
                   help="GDAL's block cache in MB (default: two row-strips of the file's "
                   'blocks, at least 64; GDAL alone would take 5%% of the memory)')
    p.add_argument('--threads', type=int, default=None,
                   help='torch threads (default: the cores not busy by the 1-minute load '
                   "average, at most torch's default; see docs/inference.md)")
    p.add_argument('--device', default='cpu')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                   help='config overrides, KEY=VALUE')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    t0 = time.time()
    try:
        model = init_scene_model(args.config, args.checkpoint, which=args.model,
                                 device=args.device, cfg_options=args.cfg_options)
        conf = None
        if args.confidence:
            stem, ext = osp.splitext(args.output)
            conf = f'{stem}_confidence{ext or ".tif"}'
        res = inference_scene(model, args.input, args.output, window=args.window,
                              overlap=args.overlap, scale_factor=args.scale_factor,
                              batch_size=args.batch_size, nodata=args.nodata,
                              confidence_path=conf, gdal_cache_mb=args.gdal_cache_mb,
                              threads=args.threads or auto_threads())
    except (PlainModelError, ValueError, FileNotFoundError, OSError, TypeError) as e:
        sys.exit(f'inference_scene: {e}')
    total = sum(res['class_pixels'].values())
    shares = ', '.join(f'{k} {100 * v / max(total, 1):.1f}%'
                       for k, v in res['class_pixels'].items())
    print(f"model: {res['model']} of {args.checkpoint}")
    print(f"{res['width']}x{res['height']} px, window {res['window']} overlap "
          f"{res['overlap']}, scale factor {res['scale_factor']:g} "
          f"({res['scale_factor_from']}), {res['windows_run']}/{res['windows']} windows run")
    print(f"validity: {res['validity']} -> {res['nodata_pixels']} px set to 255")
    print(f"GDAL cache {res['gdal_cache_mb']:g} MB, {res['threads']} torch thread(s)")
    print(f'classes: {shares}')
    print(f"wrote {args.output}" + (f' and {conf}' if conf else '')
          + f' in {time.time() - t0:.1f} s')


if __name__ == '__main__':
    main()
