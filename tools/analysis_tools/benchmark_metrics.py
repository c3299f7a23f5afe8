"""Time per image of BoundaryIoUMetric against mmseg's IoUMetric, in one run.

    python tools/analysis_tools/benchmark_metrics.py [--sizes 512 1024] [--images 20]

Both metrics process the same data samples (what mmseg's test loop hands
them: ``pred_sem_seg`` and ``gt_sem_seg`` as CPU tensors), made of
piecewise-constant label maps of ``--classes`` classes (regions of about
``--region`` px, a share of ignored pixels) and predictions that disagree
with them in blobs and along the edges. ``process`` is timed per image:
the median over ``--repeats // 2`` rounds, run twice with the two metrics
alternating, the faster of the two kept;
``compute_metrics`` runs once per set and is reported apart. Ends with one
JSON line.
"""
import argparse
import json
import logging
import time

import cv2
import numpy as np
import torch
from mmengine.logging import MMLogger
from mmengine.structures import PixelData
from mmseg.registry import METRICS
from mmseg.structures import SegDataSample

from semiearth.evaluation import boundary_width  # also registers BoundaryIoUMetric


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--sizes', nargs='+', type=int, default=[512, 1024])
    p.add_argument('--images', type=int, default=20, help='images per size')
    p.add_argument('--repeats', type=int, default=5, help='timing rounds per metric')
    p.add_argument('--classes', type=int, default=6)
    p.add_argument('--region', type=int, default=64, help='typical region size, px')
    p.add_argument('--ignore-share', type=float, default=0.05)
    p.add_argument('--dilation-ratio', type=float, default=0.02)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=1,
                   help='torch and OpenCV threads (the same for both metrics)')
    return p.parse_args(argv)


def label_pair(rng, size, classes, region, ignore_share):
    """A piecewise-constant ground truth and a prediction that errs in blobs
    and shifts the edges."""
    def blocky(cell):
        coarse = rng.integers(0, classes, (size // cell + 1,) * 2).astype(np.uint8)
        return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_NEAREST)
    gt = blocky(region)
    warp = rng.normal(0, 3, (2, size // 16 + 1, size // 16 + 1)).astype(np.float32)
    flow = np.stack([cv2.resize(w, (size, size)) for w in warp], -1)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    pred = cv2.remap(gt, xx + flow[..., 0], yy + flow[..., 1], cv2.INTER_NEAREST,
                     borderMode=cv2.BORDER_REPLICATE)
    wrong = blocky(region // 4) == 0
    pred = np.where(wrong, blocky(region // 2), pred)
    gt = np.where(blocky(region) == 0, 255, gt) if ignore_share > 0 else gt
    return torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(gt.astype(np.int64))


def samples_for(rng, args, size):
    out = []
    for _ in range(args.images):
        pred, gt = label_pair(rng, size, args.classes, args.region, args.ignore_share)
        s = SegDataSample()
        s.pred_sem_seg = PixelData(data=pred[None])
        s.gt_sem_seg = PixelData(data=gt[None])
        out.append(s.to_dict())
    return out


def time_process(metric, samples, repeats):
    """Median seconds per image of ``metric.process`` over ``repeats`` rounds."""
    per_image = []
    for _ in range(repeats):
        metric.results.clear()
        t0 = time.perf_counter()
        for s in samples:
            metric.process({}, [s])
        per_image.append((time.perf_counter() - t0) / len(samples))
    t0 = time.perf_counter()
    values = metric.compute_metrics(metric.results)
    return float(np.median(per_image)), time.perf_counter() - t0, values


def rounded(value, digits: int = 4):
    """``value`` with every float rounded to ``digits`` decimals (JSON line)."""
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    return round(value, digits) if isinstance(value, float) else value


def main(argv=None):
    args = parse_args(argv)
    logger = MMLogger.get_current_instance()
    saved = torch.get_num_threads(), cv2.getNumThreads(), logger.level
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    logger.setLevel(logging.WARNING)  # the metrics' per-class tables would bury the timings
    try:
        return run(args)
    finally:
        torch.set_num_threads(saved[0])
        cv2.setNumThreads(saved[1])
        logger.setLevel(saved[2])


def run(args):
    rng = np.random.default_rng(args.seed)
    meta = dict(classes=[f'c{i}' for i in range(args.classes)],
                palette=[[i, i, i] for i in range(args.classes)])
    metrics = {'IoUMetric': METRICS.build(dict(type='IoUMetric', iou_metrics=['mIoU'])),
               'BoundaryIoUMetric': METRICS.build(dict(type='BoundaryIoUMetric',
                                                       dilation_ratio=args.dilation_ratio))}
    for m in metrics.values():
        m.dataset_meta = meta
    print(f'torch threads {torch.get_num_threads()}, OpenCV threads {cv2.getNumThreads()}; '
          f'{args.images} images per size, median of {max(args.repeats // 2, 1)} rounds, '
          'twice alternating, the faster kept')
    print(f'{"size":>6} {"d":>4} {"IoUMetric ms/img":>17} {"BoundaryIoU ms/img":>19} '
          f'{"ratio":>6} {"mIoU":>6} {"mBoundaryIoU":>13}')
    table = {}
    for size in args.sizes:
        samples = samples_for(rng, args, size)
        row = {}
        for _ in range(2):  # alternate, so both see the same machine state; keep the faster
            for name, m in metrics.items():
                t = time_process(m, samples, max(args.repeats // 2, 1))
                row[name] = min(row.get(name, t), t, key=lambda x: x[0])
        iou, biou = row['IoUMetric'], row['BoundaryIoUMetric']
        d = boundary_width((size, size), args.dilation_ratio)
        # the table keeps full precision (the ratio is of the unrounded
        # times); only the printed row and the JSON line are rounded
        table[size] = dict(d=d, iou_ms=iou[0] * 1e3, boundary_iou_ms=biou[0] * 1e3,
                           ratio=biou[0] / iou[0],
                           compute_ms=dict(iou=iou[1] * 1e3, boundary_iou=biou[1] * 1e3),
                           mIoU=float(iou[2]['mIoU']), mBoundaryIoU=float(biou[2]['mBoundaryIoU']))
        r = table[size]
        print(f'{size:>6} {d:>4} {r["iou_ms"]:>17.3f} {r["boundary_iou_ms"]:>19.3f} '
              f'{r["ratio"]:>6.2f} {r["mIoU"]:>6.2f} {r["mBoundaryIoU"]:>13.2f}')
    print(json.dumps(dict(per_size=rounded(table), images=args.images, classes=args.classes),
                     separators=(',', ':')))
    return table


if __name__ == '__main__':
    main()
