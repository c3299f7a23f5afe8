"""Check a config's data before training: split files, every image and
label of the train, val and test sets (what ConfigCheckHook also checks at
the start of training). Lists every problem with its file and fix; exits 1
if there is any.

    python tools/check_dataset.py CONFIG [--cfg-options KEY=VALUE ...]
"""
import argparse
import sys

import semiearth  # noqa: F401  (shims + registration before mmseg is used)
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

from semiearth.apis.cli import CfgOptionsAction
from semiearth.datasets.dataset_check import check_datasets, decode_split_of, expected_bands


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    p.add_argument('--cache', help='a JSON file to cache per-file results in')
    args = p.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    present = [s for s in ('train', 'val', 'test') if cfg.get(f'{s}_dataloader')]
    for split in present:
        decode_split_of(cfg[f'{split}_dataloader'].dataset)
    splits = [(split, DATASETS.build(cfg[f'{split}_dataloader'].dataset)) for split in present]
    problems = check_datasets(splits, expected_bands(cfg.model), args.cache)
    for problem in problems:
        print(f'- {problem}')
    sizes = ', '.join(f'{s} {len(d)}' for s, d in splits)
    print(f'{len(problems)} problem(s) in {args.config} ({sizes} samples)')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
