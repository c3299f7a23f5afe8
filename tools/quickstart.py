"""The quick-start job on the embedded NC Landsat dataset.

Two stages, each method and seed trained with ``tools/train.py`` (best
checkpoint by val mIoU) and tested on the test split with ``tools/test.py``:

1. ``supervised``: from ImageNet weights, the config's schedule (300
   iterations).
2. From that run's best checkpoint, same seed, ``--continue-iters`` more
   iterations each: ``supervised_continued`` (the fair baseline: same start,
   same iterations, same learning-rate schedule), ``fixmatch`` and
   ``semiearth`` (the default set, about 20 minutes on 2 cores); with
   ``--methods`` also ``unimatch_v2``, ``unimatch``, ``mean_teacher``,
   ``dwl`` and their purified ``-vlmpp`` rows (or ``all``). Started from a confident model, the EMA teacher's
   pseudo-labels pass the 0.95 threshold from the first steps (from ImageNet
   weights and 300 iterations none ever did).

Writes ``work_dirs/quickstart/results.json`` (one record per method: test
mIoU per seed, the pseudo-label mask ratio and accuracy and the method's own
unsupervised loss terms per seed, the semi-supervised ones compared with
``supervised_continued`` seed by seed; each method's best checkpoint is the
one its config's ``save_best`` names: the teacher's, UniMatch's student), prints a results table, and saves ``predictions.png`` (image / ground
truth / each method's prediction on test tiles) and ``pseudo_labels.png``
(share of unlabeled pixels passing the threshold and their accuracy over the
iterations). Then it maps the whole scene with each method's median-seed
best checkpoint (the one ``predictions.png`` shows) through
:func:`semiearth.apis.inference_scene`: ``scene_input_ms6.tif`` (the model
input: the converter's six uint8 bands of the full scene), ``scene_<method>.tif``
(class maps) and ``scene_maps.png`` (RGB, ground truth, each map, legend).
``--scene-maps-only`` redoes just that step on an existing work dir.
``--methods`` runs any subset (with the runs they start from). The methods
are the rows of ``METHODS`` below (name, config, start, iterations, in the
default set or not): a new method is one more row. A purified method
(``semiearth``, ``*-vlmpp``) without loadable VLM weights is recorded 'not
run'. The job itself is :mod:`semiearth.apis.quickstart`.
Called by ``tools/quickstart.sh``, which prepares the environment, the data
and the pretrained weights first.
"""
import argparse
import importlib.util
import os
import os.path as osp
import sys

from semiearth.apis.quickstart import (CONTINUE, DEFAULT_DATA_ROOT, Method, QuickstartError,
                                       QuickstartSettings, default_methods, method_table,
                                       run_quickstart)
from semiearth.apis.quickstart import save_scene_maps as _save_scene_maps
from semiearth.apis.quickstart import write_scene_input as _write_scene_input

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SUPERVISED = ('configs/supervised/'
              'supervised_deeplabv3plus-mbv2_1xb8-300i_nclandsat-1of8-128x128.py')
# the NC Landsat 1/8 quick-start model's config name, after the method's
NC = '_deeplabv3plus-mbv2_1xb16-300i_nclandsat-1of8-128x128.py'
# One row per method: name, config, the method whose best checkpoint (same
# seed) it starts from (None: ImageNet), and its iterations (the config's
# schedule or --max-iters; CONTINUE: --continue-iters). A method started from
# a checkpoint is compared with the start's config continued alike.
METHODS = method_table([
    Method('supervised', SUPERVISED),
    Method('supervised_continued', SUPERVISED, start='supervised', iterations=CONTINUE),
    Method('fixmatch', f'configs/fixmatch/fixmatch{NC}', start='supervised',
           iterations=CONTINUE),
    Method('semiearth', f'configs/semiearth/semiearth{NC}', start='supervised',
           iterations=CONTINUE),
    # not in the default set (which must finish in 20 minutes on 2 cores)
    Method('unimatch_v2', f'configs/unimatch_v2/unimatch-v2{NC}', start='supervised',
           iterations=CONTINUE, default=False),
    Method('unimatch_v2-vlmpp', f'configs/unimatch_v2/unimatch-v2-vlmpp{NC}',
           start='supervised', iterations=CONTINUE, default=False),
    Method('unimatch', f'configs/unimatch/unimatch{NC}', start='supervised',
           iterations=CONTINUE, default=False),
    Method('unimatch-vlmpp', f'configs/unimatch/unimatch-vlmpp{NC}', start='supervised',
           iterations=CONTINUE, default=False),
    Method('mean_teacher', f'configs/mean_teacher/mean-teacher{NC}', start='supervised',
           iterations=CONTINUE, default=False),
    Method('mean_teacher-vlmpp', f'configs/mean_teacher/mean-teacher-vlmpp{NC}',
           start='supervised', iterations=CONTINUE, default=False),
    Method('dwl', f'configs/dwl/dwl{NC}', start='supervised', iterations=CONTINUE,
           default=False),
    Method('dwl-vlmpp', f'configs/dwl/dwl-vlmpp{NC}', start='supervised',
           iterations=CONTINUE, default=False),
])
DEFAULT_METHODS = default_methods(METHODS)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--methods', nargs='+', default=list(DEFAULT_METHODS),
                   choices=list(METHODS) + ['all'],
                   help='run these (and the runs they start from); all: every row; '
                   f"default: {' '.join(DEFAULT_METHODS)}")
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--continue-iters', type=int, default=150,
                   help='iterations of the runs started from the supervised checkpoint')
    p.add_argument('--split-seed', type=int, default=0,
                   help='which random spatial split of the scene (0: data/nc_landsat; K: '
                   'data/nc_landsat_splitK, converted on first use)')
    p.add_argument('--work-dir', default=None,
                   help='default: work_dirs/quickstart (split seed K: ..._splitK)')
    p.add_argument('--data-root', default=None,
                   help='converted data (default: data/nc_landsat, or '
                   'data/nc_landsat_splitK for split seed K)')
    p.add_argument('--cfg-options', nargs='+', default=[],
                   help='KEY=VALUE added to every training and test run')
    p.add_argument('--max-iters', type=int, default=None,
                   help='override the supervised schedule (smoke runs)')
    p.add_argument('--num-vis', type=int, default=6,
                   help='test tiles in predictions.png')
    p.add_argument('--vlm-checkpoint', default=os.environ.get('SEMIEARTH_VLM_CKPT'),
                   help='local VLM weights for the purified rows (default: '
                   '$SEMIEARTH_VLM_CKPT; else open_clip downloads them where online)')
    p.add_argument('--scene-maps-only', action='store_true',
                   help="train nothing: map the whole scene with the checkpoints listed in "
                   "WORK_DIR/results.json (writes scene_maps.png and scene_<method>.tif)")
    p.add_argument('--scene-dir', default=None,
                   help='where the scene maps go (default: the work dir)')
    p.add_argument('--write-scene-input', metavar='OUT.tif', default=None,
                   help='only write the full scene as the NC Landsat models take it (six '
                   'uint8 bands, nodata 0, georeferenced) to OUT.tif, and exit')
    args = p.parse_args(argv)
    if 'all' in args.methods:
        args.methods = list(METHODS)
    suffix = f'_split{args.split_seed}' if args.split_seed else ''
    args.work_dir = args.work_dir or f'work_dirs/quickstart{suffix}'
    args.data_root = args.data_root or f'data/nc_landsat{suffix}'
    return args


def settings(args) -> QuickstartSettings:
    return QuickstartSettings(
        root=ROOT, work_dir=args.work_dir, data_root=args.data_root,
        split_seed=args.split_seed, seeds=args.seeds, continue_iters=args.continue_iters,
        max_iters=args.max_iters, cfg_options=args.cfg_options,
        vlm_checkpoint=args.vlm_checkpoint, num_vis=args.num_vis, scene_dir=args.scene_dir)


def converter():
    """tools/dataset_converters/nc_landsat.py as a module: the scene input
    must be stretched exactly as the training tiles were."""
    path = osp.join(ROOT, 'tools', 'dataset_converters', 'nc_landsat.py')
    spec = importlib.util.spec_from_file_location('nc_landsat_converter', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_scene_input(path, src=None):
    """The whole scene as the models take it (see
    :func:`semiearth.apis.quickstart.write_scene_input`)."""
    return _write_scene_input(path, converter(), src)


def save_scene_maps(work_dir, out_dir=None, data_root=DEFAULT_DATA_ROOT, records=None,
                    src=None, window=None, overlap=None):
    """The scene maps of a work dir (see
    :func:`semiearth.apis.quickstart.save_scene_maps`)."""
    return _save_scene_maps(work_dir, converter(), ROOT, out_dir, data_root, records, src,
                            window, overlap)


def scene_step(args) -> None:
    """--write-scene-input / --scene-maps-only."""
    try:
        if args.write_scene_input:
            write_scene_input(args.write_scene_input)
            print(f'wrote {args.write_scene_input}')
        else:
            out_dir = args.scene_dir or args.work_dir
            os.makedirs(out_dir, exist_ok=True)
            print(f'wrote {save_scene_maps(args.work_dir, out_dir, args.data_root)}')
    except (FileNotFoundError, OSError, ValueError) as e:
        sys.exit(f'[quickstart] {e}')


def main(argv=None):
    args = parse_args(argv)
    if args.write_scene_input or args.scene_maps_only:
        return scene_step(args)
    try:
        run_quickstart(METHODS, args.methods, settings(args), converter())
    except QuickstartError as e:
        sys.exit(str(e))


if __name__ == '__main__':
    main()
