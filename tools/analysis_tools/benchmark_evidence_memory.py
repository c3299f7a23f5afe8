"""Resident memory of reading VLM evidence maps, against their number.

    python tools/analysis_tools/benchmark_evidence_memory.py [--maps 10000]
        [--shape C H W] [--view 64] [--every 1000] [--cache-dir DIR]

Writes ``--maps`` float16 maps of ``--shape`` (``write_map``, as training
and ``tools/precompute_vlm.py`` write them) into a temporary cache, then, in
one run, reads a ``--view`` x ``--view`` view of every map in turn in two
fresh processes:

- ``mmap`` (SemiEarth): :meth:`EvidenceCache.sample`, the map memory-mapped
  and only the view's box widened to float32;
- ``ram`` (before, for comparison): each map loaded whole, widened to
  float32 and kept, as the evidence cache did before (LoveDA: about 7.5 GB
  per rank).

Each process reports its RSS (``VmRSS``; its anonymous and file-backed parts,
``RssAnon`` / ``RssFile``) every ``--every`` maps. Linux only (``/proc``).
Ends with one JSON line: the RSS series in MB of both, and for each the
growth from the first to the last sample, in MB and per 1,000 maps.
"""
import argparse
import json
import multiprocessing
import os.path as osp
import shutil
import tempfile

import numpy as np
import torch

from semiearth.vlm.evidence_cache import EvidenceCache, prepare_cache, write_map


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--maps', type=int, default=10000)
    p.add_argument('--shape', type=int, nargs=3, default=(7, 128, 128), metavar=('C', 'H', 'W'),
                   help='map size (classes, height, width) after downsampling')
    p.add_argument('--view', type=int, default=64, help='view side in map cells')
    p.add_argument('--every', type=int, default=1000, help='RSS sample interval (maps)')
    p.add_argument('--cache-dir', help='where to write the maps (default: a temporary '
                   'directory, deleted afterwards)')
    args = p.parse_args(argv)
    if not osp.isdir('/proc/self'):
        p.error('RSS is read from /proc/self/status: Linux only')
    if args.maps < args.every or args.view > min(args.shape[1:]):
        p.error('--maps must be >= --every and --view <= H, W')
    return args


def rss_mb() -> dict:
    out = {}
    with open('/proc/self/status') as f:
        for line in f:
            key = line.split(':')[0]
            if key in ('VmRSS', 'RssAnon', 'RssFile'):
                out[key] = round(int(line.split()[1]) / 1024, 1)
    return out


def read_all(mode: str, cache_dir: str, classes, args, queue) -> None:
    cache = EvidenceCache(cache_dir, 'benchmark', classes)
    _, h, w = args.shape
    v = args.view
    ys, xs = torch.meshgrid(torch.arange(v, dtype=torch.float32),
                            torch.arange(v, dtype=torch.float32), indexing='ij')
    kept, series = {}, []
    for i in range(args.maps):
        path, shape = f'img/{i:06d}.tif', (h, w)
        x0, y0 = (i * 7) % (w - v + 1), (i * 13) % (h - v + 1)
        coords = torch.stack([xs + x0, ys + y0])[None]
        if mode == 'mmap':
            evidence, _ = cache.sample([path], [shape], coords)
        else:
            kept[path] = torch.from_numpy(np.load(cache.path(path)).astype(np.float32))
            evidence = kept[path][:, y0:y0 + v, x0:x0 + v]
        assert evidence.shape[-2:] == (v, v)
        if (i + 1) % args.every == 0:
            series.append(dict(maps=i + 1, **rss_mb()))
    queue.put(series)


def main(argv=None):
    args = parse_args(argv)
    tmp = args.cache_dir or tempfile.mkdtemp(prefix='semiearth_evidence_mem_')
    classes = [f'c{i}' for i in range(args.shape[0])]
    try:
        prepare_cache(tmp, 'benchmark', classes, 1)
        gen = torch.Generator().manual_seed(0)
        for i in range(args.maps):
            if not osp.isfile(osp.join(tmp, f'{i:06d}.npy')):
                write_map(tmp, f'img/{i:06d}.tif',
                          torch.rand(args.shape, generator=gen).softmax(0), 1)
        # a fresh process per mode: a forked one would inherit the parent's
        # resident heap (new allocations reuse it without raising the RSS) and
        # torch's thread pool (which can deadlock after fork)
        ctx = multiprocessing.get_context('spawn')
        result = dict(maps=args.maps, shape=list(args.shape), view=args.view,
                      bytes_per_map=int(np.prod(args.shape)) * 2)
        for mode in ('mmap', 'ram'):
            queue = ctx.Queue()
            proc = ctx.Process(target=read_all, args=(mode, tmp, classes, args, queue))
            proc.start()
            series = queue.get()
            proc.join()
            first, last = series[0]['VmRSS'], series[-1]['VmRSS']
            per_k = (last - first) / ((series[-1]['maps'] - series[0]['maps']) / 1000)
            result[mode] = dict(rss_mb=series, growth_mb=round(last - first, 1),
                                growth_mb_per_1000_maps=round(per_k, 2))
            print(f'{mode:>4}: RSS {first:.0f} MB after {series[0]["maps"]} maps, '
                  f'{last:.0f} MB after {series[-1]["maps"]} ({per_k:+.2f} MB per 1,000 maps)',
                  flush=True)
        print(json.dumps(result, separators=(',', ':')), flush=True)
        return result
    finally:
        if not args.cache_dir:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
