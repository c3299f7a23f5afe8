"""Turn an mmseg config (a zoo file or your own) into a supervised, FixMatch,
SemiEarth, UniMatch V2, UniMatch, Mean Teacher or DWL leaf (the last four also
purified: ``-vlmpp``) at a labeled ratio of the mmseg protocol.

The leaf inherits the config and changes only what the method needs: the
training set becomes the labeled + unlabeled split lists of
``tools/dataset_converters/mmseg_splits.py`` (a SemiDataset; a second strong
view for UniMatch V2 / UniMatch), the model a teacher-student
SemiEarthSegmentor around the config's own model with the method's step
(``model.semi_method``), plus the EMA-teacher hook and the teacher/student
validation (UniMatch and DWL keep and export the student). Model, crop, optimiser,
schedule, test mode, evaluator and val / test data stay the config's.

Usage::

    python tools/misc/wrap_mmseg_config.py CONFIG --method {supervised,fixmatch,semiearth,
            unimatch_v2,unimatch,mean_teacher,dwl (each also -vlmpp)}
        --ratio {1/16,1/8,1/4,1/2} [--out FILE_OR_DIR] [--num-labeled N]
        [--num-unlabeled N] [--unlabeled-without-labels] [--shared T ...]
        [--labeled-only T ...] [--class-names NAME] [--cache-dir DIR]
        [--fixmatch-base FILE] [--over FILE] [--crop-size H [W]]

CONFIG is ``mmseg::<path under mmseg's configs/>`` (e.g.
``mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_vaihingen-512x512.py``)
or a config file. Without ``--out`` the leaf is printed (``_base_`` paths
absolute); ``--out DIR/`` names the file in this repository's config naming.
See docs/mmseg_zoo.md.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Optional, Tuple

import semiearth  # noqa: F401  (registers the transforms the checks read)
from mmengine.config import Config
from mmengine.registry import init_default_scope

from semiearth.apis.mmseg_protocol import (METHODS, PROTOCOL_RATIOS, protocol_ratio_tag,
                                           resolve_config, suggest_name, wrap_config)
from semiearth.utils import atomic_write_text


def parse_args(argv=None) -> argparse.Namespace:
    head, _, rest = __doc__.strip().partition('\n\n')
    p = argparse.ArgumentParser(description=head, epilog=rest.replace('``', ''),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help="mmseg::<zoo config> or a config file")
    p.add_argument('--method', required=True, choices=METHODS)
    p.add_argument('--ratio', required=True,
                   help=f"labeled share of img_dir/train: {', '.join(PROTOCOL_RATIOS)}")
    p.add_argument('--out', help='file to write (a folder ending in / : named for you); '
                   'default: print')
    p.add_argument('--num-labeled', type=int,
                   help="labeled images per GPU and step (default: the config's batch)")
    p.add_argument('--num-unlabeled', type=int,
                   help="unlabeled images per GPU and step (default: the config's batch)")
    p.add_argument('--unlabeled-without-labels', action='store_true',
                   help='do not load unlabeled label maps (no pseudo.acc diagnostics)')
    p.add_argument('--shared', nargs='+', default=[], metavar='T',
                   help='transform types to run once for both unlabeled views')
    p.add_argument('--labeled-only', nargs='+', default=[], metavar='T',
                   help='transform types to keep out of the unlabeled views')
    p.add_argument('--class-names', help='purified methods: a ready VLM class-name list '
                   '(semiearth.vlm.RS_CLASS_NAMES); default: the one matching the classes')
    p.add_argument('--cache-dir', help='purified methods: VLM evidence cache (default: '
                   '<data_root>/vlm_cache/mmseg_vit-b16_segearth)')
    p.add_argument('--fixmatch-base', metavar='FILE',
                   help='purified methods: inherit the leaf of the same method without '
                        'the purifier (semiearth: the FixMatch leaf; written by this tool '
                        'for the same config) and add only the purifier')
    p.add_argument('--crop-size', type=int, nargs='+', metavar='N',
                   help="training crop H [W] instead of the config's (a small run); the "
                        'resize scales follow it, the leaf names it crop_size')
    p.add_argument('--over', metavar='FILE',
                   help='inherit this leaf (written by this tool for the same config and '
                        '--method at another ratio) and set only the lists of --ratio')
    return p.parse_args(argv)


def run(argv=None) -> Tuple[str, Optional[str]]:
    """Write (``--out``) or print the leaf; returns its text and the file
    written (None when printed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    init_default_scope('mmseg')
    out = args.out
    for n, flag in ((args.num_labeled, '--num-labeled'), (args.num_unlabeled, '--num-unlabeled')):
        if n is not None and n < 1:
            raise ValueError(f'{flag} {n}: need at least 1 image per GPU and step.')
    if out and (out.endswith(('/', os.sep)) or osp.isdir(out)):
        tag = protocol_ratio_tag(args.ratio)
        batch = _config_batch(args.config)
        if args.method != 'supervised':
            batch = (args.num_labeled or batch) + (args.num_unlabeled or batch)
        out = osp.join(out, suggest_name(args.config, args.method, tag, batch,
                                         _crop(args.crop_size)))
    text, notes = wrap_config(
        args.config, args.method, args.ratio, out=out, num_labeled=args.num_labeled,
        num_unlabeled=args.num_unlabeled, unlabeled_labels=not args.unlabeled_without_labels,
        shared=args.shared, labeled_only=args.labeled_only, class_names=args.class_names,
        cache_dir=args.cache_dir, argv=argv, fixmatch_base=args.fixmatch_base,
        over=args.over, crop_size=_crop(args.crop_size))
    for note in notes:
        print(f'note: {note}', file=sys.stderr)
    if out is None:
        sys.stdout.write(text)
        return text, None
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    atomic_write_text(out, text)
    print(f'wrote {out}')
    return text, out


def _crop(values) -> Optional[Tuple[int, int]]:
    """--crop-size N or H W as (h, w)."""
    if values is None:
        return None
    if len(values) > 2 or min(values) < 1:
        raise ValueError(f'--crop-size {values}: give H [W], positive pixels.')
    return (values[0], values[-1])


def _config_batch(spec: str) -> int:
    return int(Config.fromfile(resolve_config(spec)).train_dataloader.get('batch_size', 1))


def main() -> None:
    """The command: errors (which name the value and the fix) end it with
    their message, not a traceback."""
    try:
        run()
    except (OSError, ValueError) as e:
        sys.exit(f'wrap_mmseg_config.py: error: {e}')


if __name__ == '__main__':
    main()
