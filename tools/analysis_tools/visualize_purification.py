"""Render purification decision records: what the purifier did, pixel by pixel.

    # records a training run wrote (model.purifier.record=dict(interval=...))
    python tools/analysis_tools/visualize_purification.py CONFIG --records DIR [DIR|FILE ...]
    # or make records now: a teacher checkpoint on the first unlabeled images
    python tools/analysis_tools/visualize_purification.py CONFIG TEACHER_CKPT [--num 4]
                                                          [--simulated-quality Q]

One PNG per record, panels side by side: teacher pseudo-label, evidence
argmax, the rule's decision (legend with each decision's pixel count and
share), purified pseudo-label, whether each decision was right, ground
truth. Label panels draw pixels under the threshold dark; nodata and padding
are black in every panel and counted nowhere; ignored ground truth is
counted nowhere either. Ground truth and nodata come from the source images
(the record keeps each pixel's source coordinates; the purifier never sees
them). ``--simulated-quality Q`` makes records with evidence SIMULATED from
the ground truth instead of the VLM's, and every title says so. Also writes
``purification_counts.json``: per record and in total, pixels per decision
(right / wrong where ground truth exists) and per teacher class.
"""
import argparse
import glob
import json
import os
import os.path as osp

import numpy as np
import torch
from mmseg.registry import DATASETS

from semiearth.apis import load_semi_config
from semiearth.apis.cli import CfgOptionsAction
from semiearth.apis.purification_analysis import (IGNORE, SourceLookup, build_teacher,
                                                  decision_right, record_counts,
                                                  simulated_evidence, teacher_outputs,
                                                  unlabeled_batches)
from semiearth.models.purifiers.decision_record import (DECISIONS, NO_EVIDENCE,
                                                        build_records, load_record,
                                                        save_record)
from semiearth.vlm.evidence_cache import cache_key

#: decision colours, in DECISIONS order: kept, relabelled, raised, lowered, no evidence
DECISION_COLORS = np.array([(150, 150, 150), (230, 40, 40), (40, 170, 60), (40, 100, 230),
                            (250, 220, 120)], np.uint8)
NODATA_COLOR = (0, 0, 0)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config', help='the config of the run (its datasets give ground truth '
                   'and nodata; its purifier makes new records)')
    p.add_argument('checkpoint', nargs='?', help='teacher checkpoint (to make records)')
    p.add_argument('--records', nargs='+', help='record files or directories to render')
    p.add_argument('--num', type=int, default=4, help='unlabeled images to record')
    p.add_argument('--simulated-quality', type=float, default=None,
                   help='make records with SIMULATED evidence of this quality')
    p.add_argument('--out-dir', default='work_dirs/visualize_purification')
    p.add_argument('--vlm-checkpoint', help='local VLM weights')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    args = p.parse_args(argv)
    if bool(args.records) == bool(args.checkpoint):
        p.error('give either a teacher checkpoint (to make records) or --records')
    return args


def make_records(cfg, args) -> list:
    """Records of the teacher's pseudo-labels on the first ``--num``
    unlabeled images, purified by the config's purifier."""
    model = build_teacher(cfg, args.checkpoint, args.device)
    if model.purifier is None:
        raise ValueError(f'{args.config} has no purifier: records need a SemiEarth config')
    sim = args.simulated_quality
    note = f'SIMULATED evidence (quality {sim:g})' if sim is not None else ''
    paths = []
    for n, batch in enumerate(unlabeled_batches(cfg, batch_size=1, limit=args.num)):
        out = teacher_outputs(model, batch)
        probs = out['probs']
        if sim is not None:
            evidence = simulated_evidence(out['gt'], probs.shape[1], sim, seed=n)['probs']
            has = torch.ones_like(out['gt'], dtype=torch.bool)
        else:
            evidence, has = model.purifier.get_evidence(out['inputs'], out['metas'],
                                                        out['coords'])
        thresh = model.thresholds(probs.max(1).indices)
        label, conf, _ = model.purifier.purify(probs, evidence, has, thresh)
        gated = model.purifier.gate(evidence.to(probs.dtype), has)
        arrays = build_records(probs, evidence, gated, thresh, label, conf, out['coords'])[0]
        img_path = out['metas'][0]['img_path']
        paths.append(osp.join(args.out_dir, 'records', cache_key(img_path) + '.npz'))
        save_record(paths[-1], arrays, img_path, 0, repr(model.purifier.rule),
                    model.purifier.class_keys, note)
    return paths


def record_files(items) -> list:
    files = []
    for item in items:
        files += sorted(glob.glob(osp.join(item, '**', '*.npz'), recursive=True)) \
            if osp.isdir(item) else [item]
    if not files:
        raise FileNotFoundError(f'no record (.npz) in {items}')
    return files


def colorize(label, palette, valid, dim=None):
    pal = np.zeros((256, 3), np.uint8)
    pal[:len(palette)] = np.asarray(palette, np.uint8)
    rgb = pal[label.astype(np.int64)].astype(np.float32)
    if dim is not None:
        rgb[dim] *= 0.3
    rgb[~valid] = NODATA_COLOR
    return rgb.astype(np.uint8)


def panels(record, valid, gt, palette):
    """(title, RGB image) of each panel."""
    dec = record['decision']
    teacher_ok = record['teacher_conf'].astype(np.float32) >= record['thresh'].astype(np.float32)
    decision_map = DECISION_COLORS[dec]
    decision_map[~valid] = NODATA_COLOR
    source = record['note'] or 'VLM evidence'
    out = [('teacher pseudo-label\n(dark: under the threshold)',
            colorize(record['teacher_label'], palette, valid, ~teacher_ok)),
           (f'{source}: argmax\n(dark: no evidence / gated)',
            colorize(record['evidence_label'], palette, valid, dec == NO_EVIDENCE)),
           ('rule decision', decision_map),
           ('purified pseudo-label\n(dark: under the threshold)',
            colorize(record['label'], palette, valid, ~record['accepted']))]
    if gt is None:
        return out + [('decision right?\n(no ground truth)', colorize(
            np.zeros_like(dec), [(60, 60, 60)], valid)),
            ('ground truth\n(none)', colorize(np.zeros_like(dec), [(60, 60, 60)], valid))]
    right = decision_right(record, gt)
    check = np.where(right[..., None], np.uint8([255, 255, 255]), np.uint8([200, 0, 160]))
    check[valid & (gt == IGNORE)] = (110, 110, 110)
    check[~valid] = NODATA_COLOR
    return out + [('decision right? white yes, magenta no\n(grey: ignored ground truth)', check),
                  ('ground truth', colorize(np.where(gt == IGNORE, 0, gt), palette,
                                            valid & (gt != IGNORE)))]


def render(record, valid, gt, palette, path) -> dict:
    """Draw one record into ``path``; returns its :func:`record_counts`."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    counts = record_counts(record, valid, gt)
    fig, axes = plt.subplots(1, 6, figsize=(20, 4.6))
    for ax, (title, img) in zip(axes, panels(record, valid, gt, palette)):
        ax.imshow(img, interpolation='nearest')
        ax.set_title(title, fontsize=8)
        ax.axis('off')
    handles = []
    for code, name in enumerate(DECISIONS):
        row = counts['decisions'][name]
        share = '' if row['share'] is None else f' ({row["share"]:.1%})'
        right = f', {row["right"]} right' if 'right' in row else ''
        handles.append(Patch(color=DECISION_COLORS[code] / 255,
                             label=f'{name}: {row["pixels"]} px{share}{right}'))
    handles.append(Patch(color=np.array(NODATA_COLOR) / 255,
                         label=f'nodata / padding: {counts["excluded"]["nodata_or_padding"]} px '
                         '(counted nowhere)'))
    counts['legend'] = [h.get_label() for h in handles]
    fig.legend(handles=handles, loc='lower center', ncol=3, fontsize=8, frameon=False)
    note = f'; {record["note"]}' if record['note'] else ''
    fig.suptitle(f'{cache_key(record["img_path"])} (iteration {record["iteration"]}), '
                 f'{record["rule"]}: {counts["pixels"]} pixels counted, accepted '
                 f'{counts["accepted_before"]:.1%} -> {counts["accepted_after"]:.1%}{note}',
                 fontsize=9)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return counts


def main(argv=None):
    args = parse_args(argv)
    cfg = load_semi_config(args.config, args.cfg_options, args.vlm_checkpoint)
    os.makedirs(args.out_dir, exist_ok=True)
    files = record_files(args.records) if args.records else make_records(cfg, args)
    lookup = SourceLookup(cfg)
    data = cfg.train_dataloader.dataset
    ds_type = data.get('unlabeled', data).type
    palette = DATASETS.get(ds_type).METAINFO['palette']
    report, total = {}, {}
    for f in files:
        record = load_record(f)
        valid, gt = lookup.view(record)
        name = f'{cache_key(record["img_path"])}_iter{record["iteration"]}'
        path = osp.join(args.out_dir, name + '.png')
        report[name] = render(record, valid, gt, palette, path)
        for dname, row in report[name]['decisions'].items():
            t = total.setdefault(dname, {})
            for k, v in row.items():
                if k != 'share':
                    t[k] = t.get(k, 0) + v
        print(path)
    n = sum(t['pixels'] for t in total.values())
    for t in total.values():
        t['share'] = round(t['pixels'] / n, 4) if n else None
    with open(osp.join(args.out_dir, 'purification_counts.json'), 'w') as fh:
        json.dump(dict(records=report, total=dict(pixels=n, decisions=total)), fh, indent=1)
    print('pixels counted (no nodata, padding or ignored ground truth): ' + ', '.join(
        f'{k} {v["share"]:.1%}' for k, v in total.items() if v['share'] is not None))
    return report


if __name__ == '__main__':
    main()
