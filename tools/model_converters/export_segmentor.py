"""Export a SemiEarth checkpoint's teacher (or student) as a plain mmseg model.

Writes ``OUT_DIR/<config name>_<model>.pth`` (an mmseg ``EncoderDecoder``
state dict with ``meta.dataset_meta``: classes, palette) and
``OUT_DIR/<config name>_<model>.py`` (the model, its data preprocessor, a test
pipeline / dataloader / evaluator and a test runtime, in mmseg terms), which
mmseg's ``init_model`` / ``inference_model`` and ``tools/test.py`` run
without SemiEarth installed: a SemiEarth backbone without an mmseg
counterpart (the 6-band ``MultiBandMobileNetV2``) is copied beside them as a
module that imports only torch, mmcv and mmseg (docs/export.md says which
models still need SemiEarth).

Usage::

    python tools/model_converters/export_segmentor.py CONFIG CHECKPOINT OUT_DIR \\
        [--model teacher|student] [--cfg-options KEY=VALUE ...]

Without ``--model`` the model the config predicts with is exported
(``model.semi_test_cfg.predict_on``: the teacher of the EMA-teacher methods,
the student of UniMatch, whose pseudo-labels come from the online model).
"""
import argparse
import sys

from mmengine.config import DictAction

import semiearth  # noqa: F401  (registers SemiEarth's components)
from semiearth.apis.export import ExportError, export_segmentor


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config', help='the SemiEarth / FixMatch config the checkpoint was trained with')
    p.add_argument('checkpoint', help='a checkpoint of that run (teacher.* and student.* weights)')
    p.add_argument('out_dir', help='where to write the plain config and checkpoint')
    p.add_argument('--model', choices=('teacher', 'student'), default=None,
                   help="which model to export (default: the one the config predicts with, "
                   "model.semi_test_cfg.predict_on: the EMA teacher for FixMatch / "
                   "SemiEarth / UniMatch V2, the student for UniMatch; 'teacher' unless set)")
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                   help='override settings of CONFIG, as for tools/train.py')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        result = export_segmentor(args.config, args.checkpoint, args.out_dir,
                                  model=args.model, cfg_options=args.cfg_options)
    except ExportError as e:
        print(f'export_segmentor: error: {e}', file=sys.stderr)
        return 2
    print(f'exported the {result.model} of {args.checkpoint}')
    print(f'  config:     {result.config}')
    print(f'  checkpoint: {result.checkpoint}')
    for copy in result.copies:
        print(f'  module:     {copy} (imports only torch, mmcv and mmseg)')
    for note in result.notes:
        print(f'  note: {note}')
    if result.needs_semiearth:
        print('  needs SemiEarth installed (custom_imports: '
              f"{', '.join(result.needs_semiearth)})")
    else:
        print('  runs with mmseg alone (no SemiEarth import)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
