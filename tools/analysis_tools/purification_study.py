"""Which pseudo-labels each purification rule accepts, and how right they are.

    python tools/analysis_tools/purification_study.py CONFIG TEACHER_CKPT

Computes a trained teacher's real pseudo-labels on the config's unlabeled
split, then purifies them with SIMULATED VLM evidence of known quality (made
from the ground truth with controlled confusions and boundary noise; see
``simulated_evidence``; never used in training) and, with ``--vlm``, with
the config's own VLM evidence. Simulated sources: ``sim_q<q>``, the same
quality on every class; ``sim_cls<q>``, quality ``q`` on half the classes and
random answers on the others (as real VLMs are good on some classes only).
The ``calibrated`` rule is measured, for each source, on the labeled split
(the same simulated VLM, or the real one). For every rule and evidence quality it
reports the accepted pixel share, the accepted-pixel accuracy and the
boundary-pixel accuracy (pixels within k px of a class edge), before and
after purification; checks that the released (``paper``) rule accepts the
same pixels with the same labels as no purifier; says from which evidence
quality our rule helps; saves a plot; and ends with one JSON line.

Boundary and interior: every statistic is also reported on the ground
truth's boundary band (pixels within ``d`` px of an edge between two classes,
``d = max(1, round(dilation_ratio * image diagonal))``, Boundary IoU's
width; :func:`semiearth.evaluation.boundary_band`) and on the rest (the
interior). A third simulated source, ``sim_edge<q>``, is good at boundaries
and poor inside: quality ``q`` in the band, random answers in the interior
(the regime where a VLM should help most at object boundaries); the report
says how much each rule relabels in the band and in the interior there.

Soft-weighting hosts: S4 methods that weigh every pixel instead of
thresholding it see a purifier's confidences, not only its acceptance. For
every rule and source the study also reports the weighted pseudo-label
accuracy (``sum w * right / sum w`` over pixels with ground truth) under
DWL's class-bin weights (memories built from the stream's own confidences, at
training progress ``--dwl-progress``) and under Mean Teacher's confidence
mask (``--mt-thresh``, relabelled pixels left out; per pixel, and the
anchor's batch-mean form), before (no purifier) and after each rule, and
checks that no rule lowers it at any simulated source
(``weighted_not_worse_than_teacher``); see
:class:`semiearth.apis.purification_analysis.SoftHostWeights`.
"""
import argparse
import json
import os
import os.path as osp
from collections import defaultdict

import torch

from semiearth.apis import load_semi_config
from semiearth.apis.cli import CfgOptionsAction
from semiearth.apis.purification_analysis import (REGIONS, SOFT_HOSTS, SoftHostWeights,
                                                  build_teacher, pixel_stats,
                                                  simulated_evidence, summarize,
                                                  summarize_weighted, teacher_outputs,
                                                  unlabeled_batches, weighted_stats)
from semiearth.evaluation import DILATION_RATIO, boundary_band
from semiearth.models import CalibratedPurifyRule, PaperPurifyRule, PoEPurifyRule
from semiearth.vlm.calibration import confusion_counts, normalize_confusion


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint', help='teacher checkpoint (SemiEarth/FixMatch or plain)')
    p.add_argument('--qualities', nargs='+', type=float,
                   default=[0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
                   help='simulated evidence: share of pixels with the right class '
                   '(before boundary noise)')
    p.add_argument('--class-qualities', nargs='+', type=float, default=[0.6, 0.8, 0.95],
                   help='class-dependent simulated evidence: quality on half the '
                   'classes, random answers on the others')
    p.add_argument('--edge-qualities', nargs='+', type=float, default=[0.9],
                   help='boundary-good simulated evidence: quality in the boundary band, '
                   'random answers in the interior')
    p.add_argument('--dilation-ratio', type=float, default=DILATION_RATIO,
                   help='boundary band width as a share of the image diagonal '
                   '(Boundary IoU\'s)')
    p.add_argument('--boundary-k', type=int, default=2,
                   help='simulated evidence: boundary noise radius, px (a random '
                   'neighbour\'s label within k px of a class edge)')
    p.add_argument('--temperatures', nargs='+', type=float, default=[1.0, 2.0, 4.0],
                   help='VLM temperatures of the PoE rules')
    p.add_argument('--sim-confidence', type=float, default=0.9,
                   help='simulated evidence: max probability of a noiseless pixel '
                   '(match it to your VLM\'s calibration)')
    p.add_argument('--dwl-progress', type=float, default=0.5,
                   help="DWL's weights at this training progress (iters / total_iters; "
                   'the weight curve sharpens over training)')
    p.add_argument('--mt-thresh', type=float, default=0.97,
                   help="Mean Teacher's confidence threshold (the anchor's runs: 0.97)")
    p.add_argument('--vlm', action='store_true',
                   help="also use the config's VLM evidence (cached or online)")
    p.add_argument('--limit', type=int, default=None, help='first N unlabeled images')
    p.add_argument('--out-dir', default='work_dirs/purification_study')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--vlm-checkpoint', help='local VLM weights (with --vlm)')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    return p.parse_args(argv)


def rules_for(temperatures):
    rules = {'none': None, 'paper': PaperPurifyRule()}
    for t in temperatures:
        rules[f'poe_T{t:g}'] = PoEPurifyRule(temperature=t)
    rules['calibrated'] = None  # built per source with that source's confusion
    return rules


VLM_SEED = 0  # one simulated VLM (its confusions) for the labeled and unlabeled images


def source_evidence(source, gt, num_classes, args, seed, model=None, out=None):
    """``(evidence, has_evidence)`` of one source for a batch."""
    if source == 'vlm':
        if model.purifier is None:
            raise ValueError(f'{args.config} has no purifier: --vlm needs a SemiEarth config')
        evidence, has = model.purifier.get_evidence(out['inputs'], out['metas'], out['coords'])
        return evidence, model.purifier.gate(evidence, has)
    kind = next(k for k in ('cls', 'edge', 'q') if source.startswith('sim_' + k))
    q = float(source[len('sim_' + kind):])
    random_classes, random_mask, noise_px = (), None, args.boundary_k
    if kind == 'cls':  # a fixed half of the classes: random answers
        order = torch.randperm(num_classes, generator=torch.Generator().manual_seed(VLM_SEED))
        random_classes = order[:num_classes // 2].tolist()
    if kind == 'edge':  # right in the boundary band, random inside, no edge noise
        random_mask, noise_px = ~boundary_band(gt, args.dilation_ratio), 0
    evidence = simulated_evidence(gt, num_classes, q, noise_px,
                                  confidence=args.sim_confidence, seed=seed,
                                  vlm_seed=VLM_SEED, random_classes=random_classes,
                                  random_mask=random_mask)['probs']
    return evidence, torch.ones_like(gt, dtype=torch.bool)


def calibrations(cfg, sources, num_classes, args, model):
    """Each source's ``P(VLM says j | true k)`` measured on the labeled split
    (simulated sources: the same simulated VLM, other noise)."""
    counts = {s: torch.zeros(num_classes, num_classes, dtype=torch.float64) for s in sources}
    for n, batch in enumerate(unlabeled_batches(cfg, part='labeled')):
        out = teacher_outputs(model, batch)
        for source in sources:
            evidence, has = source_evidence(source, out['gt'], num_classes, args,
                                            seed=100_000 + n, model=model, out=out)
            gt = torch.where(has, out['gt'], torch.full_like(out['gt'], 255))
            counts[source] += confusion_counts(evidence.max(1).indices, gt, num_classes)
    return {s: normalize_confusion(c) for s, c in counts.items()}


class TeacherRanking:
    """Accuracy of the teacher's k most confident pixels, for any k: what
    lowering the threshold alone would accept (the baseline a purifier must
    beat)."""

    def __init__(self):
        self.conf, self.right = [], []

    def add(self, probs, gt):
        conf, label = probs.max(1)
        has = gt != 255
        self.conf.append(conf[has].half().cpu())
        self.right.append((label == gt)[has].cpu())

    def finish(self):
        conf, right = torch.cat(self.conf).float(), torch.cat(self.right).float()
        order = conf.argsort(descending=True)
        self.cum_right = right[order].cumsum(0)

    def acc_at(self, count):
        if count <= 0:
            return None
        return round(float(self.cum_right[count - 1] / count), 4)


def helps(after, before, ranking):
    """The purified supervision beats the teacher's: the added accepted pixels
    are mostly right, and the accepted pixels are more accurate than the
    teacher's equally many most confident pixels (a lower threshold)."""
    d_right = after['accepted_right'] - before['accepted_right']
    d_wrong = (after['accepted'] - after['accepted_right']) - \
        (before['accepted'] - before['accepted_right'])
    same_share = ranking.acc_at(after['accepted'])
    return (d_right > d_wrong and same_share is not None
            and after['accepted_right'] / after['accepted'] > same_share)


def measure(cfg, model, sources, confusion, rules, args):
    """Purify the teacher's pseudo-labels of every unlabeled batch with each
    source and rule; returns per (source, rule) counts, the pixels where the
    paper rule differs from no purifier, the evidence's own counts and the
    teacher's confidence ranking. The counts include the soft-weighting
    hosts' weight sums (:func:`weighted_stats`), each (source, rule) stream
    with its own DWL memories."""
    num_classes = model.teacher.decode_head.num_classes
    hosts = defaultdict(lambda: SoftHostWeights(num_classes, args.dwl_progress,
                                                args.mt_thresh))
    counts = defaultdict(lambda: defaultdict(int))   # (source, rule) -> counts
    paper_diff = defaultdict(int)                    # source -> differing pixels
    evidence_counts = defaultdict(lambda: defaultdict(int))
    ranking = TeacherRanking()
    for n, batch in enumerate(unlabeled_batches(cfg, limit=args.limit)):
        out = teacher_outputs(model, batch)
        probs, gt = out['probs'], out['gt']
        band = boundary_band(gt, args.dilation_ratio)
        real = out['coords'][:, 0] >= 0  # not padding: what a host's memory sees
        ranking.add(probs, gt)
        conf0, label0 = probs.max(1)
        thresholds = model.thresholds(label0)
        for source in sources:
            evidence, has = source_evidence(source, gt, num_classes, args, seed=n,
                                            model=model, out=out)
            for k, v in pixel_stats(evidence.max(1).indices, has, gt, band).items():
                evidence_counts[source][k] += v
            results = {}
            for name, rule in rules.items():
                if name == 'calibrated':
                    rule = CalibratedPurifyRule(confusion[source])
                label, conf = (label0, conf0) if rule is None else \
                    rule(probs, evidence, has, thresholds)
                accept = model.accept(label, conf, torch.ones_like(has))
                results[name] = (label, accept)
                for k, v in pixel_stats(label, accept, gt, band, label0).items():
                    counts[(source, name)][k] += v
                weights = hosts[(source, name)](probs, label, conf, real)
                for k, v in weighted_stats(weights, label, gt).items():
                    counts[(source, name)][k] += v
            (l0, a0), (lp, ap) = results['none'], results['paper']
            paper_diff[source] += int((a0 != ap).sum() + (a0 & (l0 != lp)).sum())
    ranking.finish()
    return counts, paper_diff, evidence_counts, ranking


def tabulate(counts, evidence_counts, ranking, sources, rules):
    """Per source and rule: :func:`summarize` plus the accuracy of the
    teacher's equally many most confident pixels; per source the evidence's
    accuracy overall (``evidence_acc``) and per region."""
    table = {s: {r: dict(summarize(counts[(s, r)]), teacher_same_share_acc=ranking.acc_at(
        counts[(s, r)]['accepted']), **summarize_weighted(
            counts[(s, r)], counts[(s, r)]['pixels'])) for r in rules} for s in sources}
    for s in sources:
        ev = summarize(evidence_counts[s])
        table[s]['evidence_acc'] = ev['all_acc']
        for r in REGIONS:
            table[s][f'evidence_acc_{r}'] = ev[f'all_acc_{r}']
    return table


COLUMNS = {'accepted_share': 'accepted', 'accepted_acc': 'acc_accepted',
           'teacher_same_share_acc': 'teacher_same_n',
           'mask_ratio_boundary': 'accepted_bnd', 'acc_boundary': 'acc_acc_bnd',
           'all_acc_boundary': 'acc_all_bnd', 'changed_boundary': 'relab_bnd',
           'mask_ratio_interior': 'accepted_int', 'acc_interior': 'acc_acc_int',
           'all_acc_interior': 'acc_all_int', 'changed_interior': 'relab_int'}


def print_table(table, sources, rules, args, pixels, thresh):
    print(f'\nTeacher {args.checkpoint} on {pixels} unlabeled pixels with ground truth, '
          f'threshold {thresh}. Evidence "sim_*" is SIMULATED from the ground truth (never '
          'used in training); sim_cls*: that quality on half the classes, random answers '
          'on the others; sim_edge*: that quality in the boundary band, random answers in '
          'the interior.')
    print(f'{"evidence":<13}{"ev.acc":>7}{"bnd":>7}{"int":>7}  {"rule":<11}' +
          ''.join(f'{c:>14}' for c in COLUMNS.values()))
    for s in sources:
        ev = table[s]
        head = f'{s:<13}{ev["evidence_acc"]:>7}{ev["evidence_acc_boundary"]:>7}' \
            f'{ev["evidence_acc_interior"]:>7}'
        for r in rules:
            print(f'{head}  {r:<11}' + ''.join(f'{str(table[s][r][k]):>14}' for k in COLUMNS))
    print("accepted: share of pixels accepted; acc_accepted: their accuracy; "
          "teacher_same_n: accuracy of the teacher's equally many most confident pixels "
          '(a lower threshold, no VLM). *_bnd: in the boundary band (pixels within d px of '
          'a class edge of the ground truth, d = max(1, round('
          f'{args.dilation_ratio} x image diagonal))), *_int: the rest; acc_all: accuracy '
          'of all pixels; relab: share relabelled by the rule.')


def weighted_drops(counts, sources, rules):
    """Per rule and host, the simulated sources where the rule lowers the
    host's weighted pseudo-label accuracy below no purifier's (unrounded;
    a stream a host gives no weight at all has no accuracy and is not
    counted)."""
    def acc(s, r, h):
        c = counts[(s, r)]
        return c[f'w_right_{h}'] / c[f'w_{h}'] if c[f'w_{h}'] > 0 else None
    out = {}
    for r in rules:
        if r == 'none':
            continue
        out[r] = {}
        for h in SOFT_HOSTS:
            pairs = [(s, acc(s, r, h), acc(s, 'none', h)) for s in sources if s != 'vlm']
            out[r][h] = [s for s, a, b in pairs if a is not None and b is not None and a < b]
    return out


def print_weighted(table, sources, rules, args, drops):
    """The soft-weighting hosts' table and the not-worse check."""
    print('\nWeighted pseudo-label accuracy (sum w * right / sum w) / mean weight, under '
          "DWL's class-bin weights (memories from each stream's own confidences, "
          f"progress {args.dwl_progress:g}) and Mean Teacher's mask at {args.mt_thresh:g} "
          '(relabelled pixels left out; per pixel, and batch-mean):')
    print(f'{"evidence":<13}{"rule":<11}' + ''.join(f'{h:>18}' for h in SOFT_HOSTS))
    for s in sources:
        for r in rules:
            row = table[s][r]
            print(f'{s:<13}{r:<11}' + ''.join(
                f'{str(row[f"weighted_acc_{h}"]) + " / " + str(row[f"mean_weight_{h}"]):>18}'
                for h in SOFT_HOSTS))
    for r, per_host in drops.items():
        for h, bad in per_host.items():
            print(f'{r}: {h} weighted accuracy at least that of no purifier ' +
                  ('at every simulated source' if not bad else f'except at {", ".join(bad)}'))


def edge_use(table, sources, rules):
    """Per boundary-good source and rule: relabelled share and accuracy of
    all pixels (before -> after), in the band and in the interior."""
    out = {}
    for s in sources:
        if s.startswith('sim_edge'):
            none = table[s]['none']
            out[s] = {r: {reg: dict(relabelled=table[s][r][f'changed_{reg}'],
                                    acc_before=none[f'all_acc_{reg}'],
                                    acc_after=table[s][r][f'all_acc_{reg}'])
                          for reg in REGIONS} for r in rules if r != 'none'}
            for r, v in out[s].items():
                b, i = v['boundary'], v['interior']
                print(f'{s} {r}: relabels {b["relabelled"]:.1%} of boundary pixels (all-pixel '
                      f'accuracy {b["acc_before"]} -> {b["acc_after"]}) and '
                      f'{i["relabelled"]:.1%} of interior pixels ({i["acc_before"]} -> '
                      f'{i["acc_after"]})')
    return out


def main(argv=None):
    args = parse_args(argv)
    cfg = load_semi_config(args.config, args.cfg_options, args.vlm_checkpoint)
    thresh = cfg.model.get('semi_train_cfg', {}).get('conf_thresh', 0.95)
    model = build_teacher(cfg, args.checkpoint, args.device)
    rules = rules_for(args.temperatures)
    sources = [f'sim_q{q:g}' for q in args.qualities] + \
        [f'sim_cls{q:g}' for q in args.class_qualities] + \
        [f'sim_edge{q:g}' for q in args.edge_qualities] + (['vlm'] if args.vlm else [])
    confusion = calibrations(cfg, sources, model.teacher.decode_head.num_classes, args, model)
    counts, paper_diff, evidence_counts, ranking = measure(cfg, model, sources, confusion,
                                                           rules, args)
    table = tabulate(counts, evidence_counts, ranking, sources, rules)
    helps_from = {}
    for r in rules:
        if r.startswith('poe') or r == 'calibrated':
            ok = [float(s[len('sim_q'):]) for s in sources if s.startswith('sim_q')
                  and helps(counts[(s, r)], counts[(s, 'none')], ranking)]
            helps_from[r] = min(ok) if ok else None
    # never worse than lowering the threshold: accepted pixels at least as
    # accurate as the teacher's equally many most confident ones
    not_worse = {r: [s for s in sources if s != 'vlm' and counts[(s, r)]['accepted'] and
                     table[s][r]['accepted_acc'] < table[s][r]['teacher_same_share_acc']]
                 for r in rules if r != 'none'}

    os.makedirs(args.out_dir, exist_ok=True)
    print_table(table, sources, rules, args, counts[(sources[0], 'none')]['pixels'], thresh)
    same = all(v == 0 for v in paper_diff.values())
    print(f'\npaper rule vs no purifier at {thresh}: '
          f'{sum(paper_diff.values())} pixels differ in acceptance or accepted label '
          f'over {len(sources)} evidence sources -> '
          f'{"identical" if same else "DIFFERENT"}')
    for r, q in helps_from.items():
        print(f'{r}: helps (accepted pixels mostly right and more accurate than the '
              "teacher's equally many most confident ones) " +
              (f'from simulated evidence quality {q:g} up' if q is not None
               else 'at no simulated quality tried'))
    for r, bad in not_worse.items():
        print(f"{r}: accepted pixels at least as accurate as the teacher's equally many "
              'most confident ones ' + ('at every simulated source' if not bad else
                                        f'except at {", ".join(bad)}'))
    drops = weighted_drops(counts, sources, rules)
    print_weighted(table, sources, rules, args, drops)
    edge = edge_use(table, sources, rules)
    plot = osp.join(args.out_dir, 'purification_study.png')
    save_plot(table, [s for s in sources if s.startswith('sim_q')], rules, plot, thresh,
              [s for s in sources if s.startswith('sim_cls')])
    keys = ('accepted_share', 'accepted_acc', 'teacher_same_share_acc') + tuple(
        f'{k}_{r}' for r in REGIONS for k in ('mask_ratio', 'acc', 'all_acc', 'changed')) + \
        tuple(f'{k}_{h}' for h in SOFT_HOSTS for k in ('weighted_acc', 'mean_weight'))
    summary = dict(simulated_evidence=True, checkpoint=args.checkpoint,
                   threshold=thresh, boundary_k=args.boundary_k,
                   dilation_ratio=args.dilation_ratio,
                   paper_same_as_none=same, paper_differing_pixels=sum(paper_diff.values()),
                   helps_from_quality=helps_from, plot=plot,
                   not_worse_than_teacher={r: not bad for r, bad in not_worse.items()},
                   edge_evidence_use=edge, sim_confidence=args.sim_confidence,
                   dwl_progress=args.dwl_progress, mt_thresh=args.mt_thresh,
                   weighted_not_worse_than_teacher={
                       r: {h: not bad for h, bad in per_host.items()}
                       for r, per_host in drops.items()},
                   results={s: {r: {k: table[s][r][k] for k in keys} for r in rules}
                            for s in sources})
    with open(osp.join(args.out_dir, 'purification_study.json'), 'w') as f:
        json.dump(dict(summary, full=table), f, indent=1)
    print(json.dumps(summary, separators=(',', ':')))
    return summary


def save_plot(table, sources, rules, path, thresh, class_sources=()):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = [('uniform quality', sources)] + ([('class-dependent quality (half the classes '
                                               'random)', class_sources)] if class_sources else [])
    fig, axes = plt.subplots(len(rows), 3, figsize=(15, 4.2 * len(rows)), squeeze=False)
    for (kind, srcs), row in zip(rows, axes):
        qs = [table[s]['evidence_acc'] for s in srcs]
        for ax, key, title in zip(row, ('accepted_share', 'accepted_acc', 'all_acc_boundary'),
                                  ('accepted pixel share', 'accepted-pixel accuracy\n(dashed: '
                                   "teacher's equally many most confident pixels)",
                                   'accuracy of all boundary-band pixels')):
            for r in rules:
                ys = [table[s][r][key] for s in srcs]
                line, = ax.plot(qs, [float('nan') if y is None else y for y in ys],
                                marker='o', label=r)
                if key == 'accepted_acc' and r != 'none':
                    base = [table[s][r]['teacher_same_share_acc'] for s in srcs]
                    ax.plot(qs, [float('nan') if y is None else y for y in base], ls='--',
                            color=line.get_color(), lw=1)
            ax.set_title(f'{title}\n{kind}', fontsize=9)
            ax.set_xlabel('SIMULATED evidence accuracy')
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=8)
    fig.suptitle(f'Pseudo-label purification with simulated VLM evidence '
                 f'(threshold {thresh})')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == '__main__':
    main()
