"""Test (and evaluate) a segmentor: mmseg's ``tools/test.py`` command line."""
import argparse
import os
import os.path as osp

# semiearth first: its shims and registrations are in place before mmseg is
# used (the package is installed: bash tools/setup_env.sh or pip install .)
import semiearth  # noqa: F401  isort:skip
from mmengine.config import Config
from mmengine.runner import Runner
from semiearth.apis.cli import CfgOptionsAction, end_distributed_run
from semiearth.engine.hooks.config_check_hook import check_config_keys


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and eval) a segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the dir to save the metric results (json)')
    parser.add_argument(
        '--out', type=str,
        help='the directory to save output prediction maps for offline '
        'evaluation')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir', help='directory where painted images will be saved; '
        'enables the visualization hook')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=CfgOptionsAction,
        help='override settings in the config, key=value')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--tta', action='store_true', help='test time augmentation')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def trigger_visualization_hook(cfg, args):
    default_hooks = cfg.default_hooks
    if 'visualization' not in default_hooks:
        raise RuntimeError(
            'VisualizationHook must be included in default_hooks to use '
            '--show or --show-dir; see configs/_base_/schedules/.')
    hook = default_hooks['visualization']
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        visualizer = cfg.visualizer
        visualizer['save_dir'] = args.show_dir
    return cfg


def set_output_dir(cfg, out: str) -> None:
    """``--out``: the metrics of ``test_evaluator`` (a dict or a list of
    them) that can write the predictions (mmseg's ``IoUMetric`` family,
    ``output_dir``) keep them in ``out``."""
    import inspect

    from mmseg.registry import METRICS
    evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) \
        else [cfg.test_evaluator]

    def writes_predictions(evaluator) -> bool:
        cls = evaluator['type']
        cls = cls if isinstance(cls, type) else METRICS.get(cls)
        return cls is not None and 'output_dir' in inspect.signature(cls.__init__).parameters

    writers = [e for e in evaluators if writes_predictions(e)]
    if not writers:
        raise SystemExit(
            f'--out {out}: none of the test metrics ({[e["type"] for e in evaluators]}) '
            "writes predictions; add mmseg's IoUMetric to test_evaluator")
    for evaluator in writers:
        evaluator['output_dir'] = out
        evaluator['keep_results'] = True


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    # a typo in a hook or loop key fails here, naming the key, not at the
    # first save (or never)
    check_config_keys(cfg)
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out is not None:
        set_output_dir(cfg, args.out)

    runner = Runner.from_cfg(cfg)
    runner.test()


if __name__ == '__main__':
    main()
    end_distributed_run()
