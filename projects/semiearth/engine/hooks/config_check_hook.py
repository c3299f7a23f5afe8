"""Check, before training or testing, the config mistakes that would
otherwise train silently on wrong targets or crash deep in a step."""
import difflib
import inspect
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Set, Tuple

from mmengine.dist import broadcast_object_list, is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS, LOOPS

from ...datasets.dataset_check import check_datasets, expected_bands, raise_if_problems
from ...utils import unwrap_model
from ...vlm import check_class_names


def _pairs(size) -> Tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(size)


def random_crop_sizes(cfg) -> Iterator[Tuple[int, int]]:
    """crop_size of every RandomCrop anywhere in a dataloader config."""
    if isinstance(cfg, dict):
        if cfg.get('type') == 'RandomCrop':
            yield _pairs(cfg['crop_size'])
        for value in cfg.values():
            yield from random_crop_sizes(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            yield from random_crop_sizes(value)


def _decode_head(model):
    """(config key, decode head) of the segmentor that makes the logits."""
    for where, seg in (('model.segmentor', getattr(model, 'student', None)),
                       ('model', model)):
        head = getattr(seg, 'decode_head', None)
        if head is not None:
            return where + '.decode_head.num_classes', head
    return None, None


def _accepted_keys(cls) -> Optional[Set[str]]:
    """The keyword arguments ``cls(...)`` accepts, following ``**kwargs`` up
    the classes that pass it on; None when they end somewhere unknown.
    ``CheckpointHook`` passes its extra keys to ``Runner.save_checkpoint``."""
    from mmengine.runner import Runner
    keys: Set[str] = set()
    for klass in cls.__mro__:
        if '__init__' not in vars(klass) or klass is object:
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        keys |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return keys
        if klass is CheckpointHook:
            return keys | set(inspect.signature(Runner.save_checkpoint).parameters)
    return None


def _components(cfg) -> Iterator[Tuple[str, dict, object]]:
    """(config key, config, class) of every hook and loop of a config."""
    for name, hook in (cfg.get('default_hooks') or {}).items():
        if isinstance(hook, dict) and 'type' in hook:
            yield f'default_hooks.{name}', hook, hook['type']
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        if isinstance(hook, dict) and 'type' in hook:
            yield f'custom_hooks[{i}]', hook, hook['type']
    defaults = dict(train_cfg=None, val_cfg='ValLoop', test_cfg='TestLoop')
    for key, default in defaults.items():
        loop = cfg.get(key)
        if isinstance(loop, dict):
            if 'type' not in loop and key == 'train_cfg':
                default = 'EpochBasedTrainLoop' if loop.get('by_epoch') else \
                    'IterBasedTrainLoop'
            yield key, loop, loop.get('type', default)


def check_config_keys(cfg) -> None:
    """Refuse keys that no hook or loop of ``cfg`` takes (a typo such as
    ``default_hooks.checkpoint.max_keep_ckpt`` would otherwise fail at the
    first save, or be ignored), naming each key and the closest valid one.
    Call it before the runner is built (loops are built from their keys at
    once); :class:`ConfigCheckHook` calls it before the run."""
    problems = []
    for where, comp, kind in _components(cfg):
        registry = HOOKS if where.endswith(']') or where.startswith('default_hooks') else LOOPS
        cls = registry.get(kind) if isinstance(kind, str) else kind
        accepted = _accepted_keys(cls) if inspect.isclass(cls) else None
        if accepted is None:
            continue
        internal = {'type', '_scope_', 'priority', 'by_epoch', 'runner', 'dataloader',
                    'evaluator'}
        for key in sorted(set(comp) - accepted - internal):
            near = difflib.get_close_matches(key, sorted(accepted - {'self'}), n=1)
            hint = f'did you mean {where}.{near[0]}?' if near else \
                f'{cls.__name__} takes {", ".join(sorted(accepted - {"self"}))}'
            problems.append(f'{where}.{key}: {cls.__name__} has no argument {key!r} ({hint})')
    if problems:
        raise ValueError('unknown key(s) in the config, refused before training:\n  '
                         + '\n  '.join(problems) + '\nFix: correct or remove them.')


@HOOKS.register_module()
class ConfigCheckHook(Hook):
    """Fail at the start of training (or testing) on a config that does not
    fit its data, with a message that names the setting and the fix.

    Checks:

    - the decode head's ``num_classes`` (of a plain mmseg segmentor, or of
      the one inside :class:`SemiEarthSegmentor`) against the ``classes`` of
      the train, val and test datasets: a head with more outputs trains on
      never-seen classes and reports a wrong mIoU; one with fewer crashes deep
      in the loss on GPU;
    - the purifier's VLM class names (names and order): VLM channel ``i`` is
      compared with segmentor class ``i``, so a list written for another
      dataset would silently purify with the wrong classes;
    - every training ``RandomCrop`` against the data preprocessor's ``size``
      (the size batches are padded to): a larger crop is not padded but its
      smaller neighbours are, and the batch fails to stack mid-training;
    - with ``evidence='cached'``, a calibrated purifier rule's calibration:
      present, and measured on this config's labeled images (``'auto'``
      measures it itself, :class:`VLMEvidenceHook`);
    - the data itself (``check_data``): split files, every image and label
      of the train and val sets (the test set before testing), see
      :mod:`semiearth.datasets.dataset_check`; all problems are listed at
      once, each with its file and fix. Rank 0 checks, once per start, and
      every rank gets the verdict; results are cached in the work dir by
      file size and time, so a restart is cheap;
    - before the run: every key of every hook and loop of the config
      (:func:`check_config_keys`).

    Every config of the zoo has it (the schedules' ``custom_hooks``), as
    mmdet 2.x configs had ``NumClassCheckHook``.

    Args:
        check_data: also check the data files (default True).
    """

    def __init__(self, check_data: bool = True) -> None:
        self.check_data = check_data

    def before_run(self, runner) -> None:
        cfg = getattr(runner, 'cfg', None)
        if cfg is not None:
            check_config_keys(cfg)

    def before_train(self, runner) -> None:
        self._check_classes(runner, runner.train_dataloader.dataset, 'train')
        val_loop = getattr(runner, 'val_loop', None)
        if val_loop is not None:
            self._check_classes(runner, val_loop.dataloader.dataset, 'val')
        cfg = getattr(runner, 'cfg', None)
        if cfg is not None:
            self._check_crop(self._model(runner), cfg.get('train_dataloader'))
        self._check_calibration(self._model(runner), runner.train_dataloader.dataset)
        splits = [('train', runner.train_dataloader.dataset)]
        if val_loop is not None:
            splits.append(('val', val_loop.dataloader.dataset))
        self._check_data(runner, splits)

    def before_test(self, runner) -> None:
        self._check_classes(runner, runner.test_loop.dataloader.dataset, 'test')
        self._check_data(runner, [('test', runner.test_loop.dataloader.dataset)])

    def _check_data(self, runner, splits) -> None:
        if not self.check_data:
            return
        cfg = getattr(runner, 'cfg', None)
        bands = expected_bands(cfg.model) if cfg is not None else None
        work_dir = getattr(runner, 'work_dir', None)
        # rank 0 checks (its cache makes a restart cheap); every rank gets the verdict
        verdict: List = [None]
        if is_main_process():
            cache = osp.join(work_dir, '.dataset_check.json') if work_dir else None
            verdict = [check_datasets(splits, bands, cache)]
        broadcast_object_list(verdict, src=0)
        problems = verdict[0]
        names = ' / '.join(s for s, _ in splits)
        raise_if_problems(problems, names)
        print_log(f'ConfigCheckHook: the data of {names} checked (split files, images, '
                  'labels)', logger='current')

    @staticmethod
    def _model(runner):
        return unwrap_model(runner.model)

    def _check_classes(self, runner, dataset, split: str) -> None:
        classes: Optional[Sequence[str]] = getattr(dataset, 'metainfo', {}).get('classes')
        if not classes:
            return
        model = self._model(runner)
        name = type(getattr(dataset, 'labeled', dataset)).__name__
        where, head = _decode_head(model)
        if head is not None and head.num_classes != len(classes):
            raise ValueError(
                f'{where} is {head.num_classes} but the {split} dataset '
                f'({name}) has {len(classes)} classes {tuple(classes)}. '
                f'Fix: set {where}={len(classes)} in the config (or pick '
                'the dataset the model was configured for).')
        purifier = getattr(model, 'purifier', None)
        if purifier is not None:
            check_class_names(purifier.class_keys, classes,
                              where='model.purifier.vlm.class_names')

    @staticmethod
    def _check_calibration(model, dataset) -> None:
        """A calibrated purifier rule needs its calibration, measured on this
        labeled set (a changed split means a stale calibration)."""
        purifier = getattr(model, 'purifier', None)
        labeled = getattr(dataset, 'labeled', None)
        if purifier is None or labeled is None or purifier.evidence == 'auto' or \
                not getattr(purifier.rule, 'needs_calibration', False):
            return  # 'auto': VLMEvidenceHook measures it when missing or stale
        from ...vlm.evidence_cache import FIX, cache_key
        measured = purifier.calibration()['labeled']
        current = sorted(cache_key(labeled.get_data_info(i)['img_path'])
                         for i in range(len(labeled)))
        if measured != current:
            raise ValueError(
                f'the VLM calibration in {purifier.cache_dir} was measured on another '
                f'labeled set ({len(measured)} images; this config has {len(current)}, '
                f'{len(set(current) - set(measured))} of them not measured). Fix: {FIX}.')

    @staticmethod
    def _check_crop(model, loader_cfg) -> None:
        size = getattr(getattr(model, 'data_preprocessor', None), 'size', None)
        if size is None or loader_cfg is None:
            return
        size = _pairs(size)
        for crop in random_crop_sizes(loader_cfg):
            if crop[0] > size[0] or crop[1] > size[1]:
                raise ValueError(
                    f'train_dataloader has RandomCrop(crop_size={crop}) but '
                    f'model.data_preprocessor.size is {size}: crops larger than '
                    'the padded size are not padded, and a batch mixing them '
                    'with smaller ones cannot be stacked. Fix: set '
                    f'model.data_preprocessor.size={crop} (the crop size).')
