"""An existing mmseg config (a zoo file ``mmseg::...`` or the user's own)
turned into a leaf of one of the methods of :data:`~.methods.PROTOCOL_METHODS`
(supervised, FixMatch, SemiEarth, UniMatch V2, UniMatch, with or without the
purifier) at a labeled ratio
(``tools/misc/wrap_mmseg_config.py``; the configs of
``configs/mmseg_protocol/`` are its output).

A leaf is ``_base_`` plus overrides, written by the one config writer
(:func:`semiearth.utils.config_text`): it inherits the config it wraps and
changes only what the method needs. The training set becomes a
:class:`SemiDataset` whose parts are the config's own training set
(``dict(_base_.train_dataloader.dataset, ...)``) with the labeled and
unlabeled lists; the model a :class:`SemiEarthSegmentor` around the
config's own model (``segmentor=_base_.model``), plus the teacher-student
hooks and loops of the package's :data:`~.package_data.RUNTIME`. Model,
crop, optimiser settings, schedule, test mode, evaluator and val / test data
stay the wrapped config's. A purified leaf (SemiEarth, ``*-vlmpp``) also
inherits the package's purifier base (:data:`~.package_data.PURIFIER_BASE`);
a method other than the segmentor's default (FixMatch) is named by
``model.semi_method``, and one that keeps the online model (UniMatch)
predicts with, and keeps the best checkpoint of, the student."""
import os.path as osp
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from mmengine.config import Config

from ...utils import config_text
from .crop import CROP, crop_by_name, recropped, train_crop
from .expressions import Extend, Ref
from .methods import DEFAULT_SEMI_METHOD, METHODS, ProtocolMethod, protocol_method
from .naming import comment_lines, header, split_command
from .package_data import PURIFIER_BASE, semi_runtime
from .pipelines import labeled_pipeline, unlabeled_pipeline
from .ratios import protocol_ratio_tag, split_files
from .source_config import (check_iter_based, dataset_class, dataset_classes,
                            dataset_defaults, normalisation, ready_class_names,
                            resolve_config, strip_scope)

Block = Tuple[str, Dict]  # (comment, assignments)
IMPORTS = dict(imports=['semiearth'], allow_failed_imports=False)
KEPT = ("Everything not set here is the wrapped config's: model, crop, optimiser, "
        'schedule, test mode, evaluator, val / test data.')


def relative_to(target: str, out: Optional[str]) -> str:
    """How a leaf written to ``out`` names ``target``: relative to ``out``'s
    folder, or absolute when the leaf is printed."""
    if out is None:
        return osp.abspath(target)
    return osp.relpath(osp.abspath(target), osp.dirname(osp.abspath(out)))


def render(head: Sequence[str], bases: Sequence[str], blocks: Sequence[Block]) -> str:
    """The leaf's text: header comment lines, ``_base_``, then each block's
    comment and assignments."""
    text = ''.join(f'{line}\n' for line in head) + config_text({}, base=list(bases))
    for note, assignments in blocks:
        text += (comment_lines(note) if note else '') + config_text(assignments)
    return text


def ratio_assignments(method: str, tag: str) -> Dict:
    """What sets a leaf's labeled ratio: its split lists."""
    labeled, unlabeled = split_files(tag)
    if method == 'supervised':
        return dict(train_dataloader=dict(dataset=dict(ann_file=labeled)))
    return dict(train_dataloader=dict(dataset=dict(
        labeled=dict(ann_file=labeled), unlabeled=dict(ann_file=unlabeled))))


def check_own_leaf(path: str, method: str, spec: str, flag: str) -> None:
    """``path`` is a ``method`` leaf this tool wrote for ``spec`` (its
    header says so), else an error naming the fix."""
    if not osp.isfile(path):
        raise FileNotFoundError(f"{flag} '{path}' does not exist. Fix: write it first "
                                f'with --method {method}.')
    with open(path) as f:
        head = f.read().split('\n', 3)
    if not (head[0].startswith(f'# {protocol_method(method).title}') and len(head) > 2
            and head[2] == f'#   {spec}'):
        raise ValueError(f"{flag} '{path}' is not this tool's {method} leaf for {spec}. "
                         f'Fix: write it with --method {method} {spec}.')


def ratio_leaf(spec: str, method: str, tag: str, over: str, out: Optional[str],
               argv: Sequence[str]) -> str:
    """A leaf at another ratio over ``over`` (a leaf this tool wrote for the
    same config and method): its base plus this ratio's lists."""
    check_own_leaf(over, method, spec, '--over')
    return render(header(method, tag, spec, argv), [relative_to(over, out)],
                  [('', ratio_assignments(method, tag))])


class WrappedConfig:
    """The config being wrapped, read once: its training loader and set,
    dataset class and hooks, and the package's teacher-student runtime."""

    def __init__(self, spec: str, out: Optional[str],
                 crop_size: Optional[Sequence[int]] = None) -> None:
        self.spec, self.out = spec, out
        self.path = resolve_config(spec)
        self.cfg = Config.fromfile(self.path)
        check_iter_based(self.cfg, spec)
        self.loader = strip_scope(self.cfg.train_dataloader.to_dict())
        self.ds = self.loader['dataset']
        self.cls = dataset_class(self.ds, spec)
        self.hooks = strip_scope([dict(h) for h in self.cfg.get('custom_hooks') or []])
        self.runtime = semi_runtime()
        self.pipeline = strip_scope(list(self.ds['pipeline']))
        own_crop = train_crop(self.pipeline, spec)
        self.crop, self.recropped = own_crop, crop_size is not None
        if crop_size is not None:
            if own_crop is None:
                raise ValueError(f'{spec}: --crop-size {tuple(crop_size)}, but the training '
                                 'pipeline has no RandomCrop to size. Fix: drop --crop-size.')
            self.crop = tuple(int(v) for v in crop_size)
            self.pipeline = recropped(self.pipeline, own_crop, self.crop, spec)

    def pads_to_crop(self) -> bool:
        """Whether the model's data preprocessor pads batches to a fixed
        ``size`` (which then reads ``crop_size`` too)."""
        dp = self.cfg.model.get('data_preprocessor') or {}
        return self.crop is not None and dp.get('size') is not None

    def crop_block(self) -> List[Block]:
        """``crop_size``, defined once (nothing without a RandomCrop)."""
        if self.crop is None:
            return []
        return [(CROP_NOTE, dict(crop_size=tuple(self.crop)))]

    @property
    def base(self) -> str:
        """How the leaf names the wrapped config in its ``_base_``."""
        if self.spec.startswith('mmseg::'):
            return self.spec
        return relative_to(self.path, self.out)

    def header(self, method: str, tag: str, argv: Sequence[str]) -> List[str]:
        """The leaf's header: what it wraps and how to write its lists."""
        return [*header(method, tag, self.spec, argv),
                *split_command(self.ds, dataset_defaults(self.ds, self.spec), self.cls.__name__),
                *[line.rstrip('\n') for line in comment_lines(KEPT).splitlines()]]


def supervised_blocks(src: WrappedConfig, tag: str) -> List[Block]:
    """The config itself on the labeled list, with the data checks."""
    check = [h for h in src.hooks if h['type'] != 'ConfigCheckHook']
    blocks = [('', dict(custom_imports=IMPORTS)),
              ('checks classes, crop and every image / label before iteration 1',
               dict(custom_hooks=check + [dict(type='ConfigCheckHook')],
                    default_hooks=dict(checkpoint=dict(type=src.runtime['checkpoint_hook']))))]
    lists = ratio_assignments('supervised', tag)
    if not src.recropped:
        return blocks + [('', lists)]
    # --crop-size: the config's pipeline at the new crop, reading the name
    lists['train_dataloader']['dataset']['pipeline'] = Ref('train_pipeline')
    assignments = dict(train_pipeline=crop_by_name(src.pipeline, src.crop), **lists)
    if src.pads_to_crop():
        assignments['model'] = dict(data_preprocessor=dict(size=CROP))
    return blocks + src.crop_block() + [
        ("the training pipeline at this crop; labeled list: this ratio's", assignments)]


def _optimizer_block(src: WrappedConfig, notes: List[str]) -> Dict:
    """The student-only optimiser constructor, unless the config names a
    constructor of its own (kept, with a note)."""
    own = (src.cfg.get('optim_wrapper') or {}).get('constructor')
    if own in (None, 'DefaultOptimWrapperConstructor'):
        return dict(optim_wrapper=dict(constructor=src.runtime['optim_wrapper_constructor']))
    notes.append(f"{src.spec}: its optim_wrapper constructor {own!r} is kept; it sees the "
                 'teacher too (frozen: mmengine skips it with a log line per parameter).')
    return {}


def _dataloader(src: WrappedConfig, tag: str, num_labeled: int, num_unlabeled: int,
                with_labels: bool) -> Dict:
    """The config's own training loader and set, as a SemiDataset of the
    ratio's two lists with a SemiSampler of ``num_labeled`` +
    ``num_unlabeled`` images a step."""
    labeled_list, unlabeled_list = split_files(tag)
    total = num_labeled + num_unlabeled
    own_set = '_base_.train_dataloader.dataset'
    unlabeled = dict(ann_file=unlabeled_list, pipeline=Ref('unlabeled_pipeline'))
    if not with_labels:
        prefix = src.ds.get('data_prefix') or {}
        unlabeled['data_prefix'] = {k: v for k, v in prefix.items() if k != 'seg_map_path'}
    dataset = dict(type='SemiDataset',
                   labeled=Extend(own_set, 8, ann_file=labeled_list,
                                  pipeline=Ref('labeled_pipeline')),
                   unlabeled=Extend(own_set, 8, **unlabeled))
    return dict(train_dataloader=Extend(
        '_base_.train_dataloader', 0, _delete_=True, batch_size=total,
        sampler=dict(type='SemiSampler', batch_size=total, num_labeled=num_labeled),
        dataset=dataset))


def _pipelines(src: WrappedConfig, row: ProtocolMethod, with_labels: bool,
               shared: Iterable[str], labeled_only: Iterable[str]) -> Dict:
    """The labeled and unlabeled pipelines derived from the config's, with
    the branches of the method ``row``."""
    train, branches = src.pipeline, list(row.branches)
    return crop_by_name(dict(
        labeled_pipeline=labeled_pipeline(train, src.spec, branches),
        unlabeled_pipeline=unlabeled_pipeline(train, src.runtime['strong_view'], with_labels,
                                              shared, labeled_only, src.spec, branches)),
        src.crop)


def purifier(src: WrappedConfig, class_names: Optional[str], cache_dir: Optional[str],
             notes: List[str], indent: int) -> Extend:
    """The purifier base's purifier, set for this dataset (class names,
    cache) and this model's normalisation."""
    classes = dataset_classes(src.ds, src.spec)
    names = class_names or ready_class_names(classes)
    if names is None:
        names = {c: [c.replace('_', ' ')] for c in classes}
        notes.append(f'{src.cls.__name__}: no ready class-name list matches its classes; the '
                     'leaf uses the class names themselves (edit class_names to add synonyms).')
    if cache_dir is None:
        if not src.ds.get('data_root'):
            raise ValueError(f'{src.spec}: the training dataset has no data_root to keep the '
                             'VLM evidence cache under. Fix: pass --cache-dir DIR.')
        cache_dir = osp.join(src.ds['data_root'], 'vlm_cache', 'mmseg_vit-b16_segearth')
    vlm = Extend('_base_.purifier.vlm', indent + 4, class_names=names,
                 **normalisation(src.cfg, src.spec))
    return Extend('_base_.purifier', indent, cache_dir=cache_dir, vlm=vlm)


CROP_NOTE = ('The training crop: every RandomCrop and the data preprocessor (the size '
             'batches are padded to) read this name. Set it here, or write the leaf with '
             '--crop-size; MMEngine resolves names when it reads this file, so '
             '--cfg-options crop_size=... would reach no pipeline.')
PURIFIER_NOTE = ("The purifier of the purifier base (above), for this dataset and this "
                 "model's normalisation. VLM evidence: the base's write-through cache "
                 "(evidence='auto'); python tools/precompute_vlm.py THIS_CONFIG computes "
                 'every map up front')
MODEL_NOTE = ("the teacher-student wrapper around the config's model; data_preprocessor=None: "
              "the wrapper makes the model's own a SemiSegDataPreProcessor (and None keeps "
              "mmengine's Runner from putting the config's top-level data_preprocessor here)")
UNLABELED_NOTE = ('unlabeled: its loading and geometry once (no label-driven crop), then a '
                  'weak view{strong}')
STRONG_VIEWS = {0: ' only (the student sees it too; CutMix in the model).',
                1: ' and a strong view (colour jitter, grayscale, blur; CutMix in the model).',
                2: ' and two strong views, each with its own draws (colour jitter, grayscale, '
                   'blur; CutMix in the model).'}
SEMI_METHOD_NOTE = ("the S4 method's step (model.semi_method) and its settings, those of "
                    "its configs/_base_/models/semi_<method>.py (the anchor's)")
STUDENT_NOTE = ('{method} labels with the online model: the student is the model predicted '
                'with, exported and kept as the best checkpoint')
LABELS_NOTE = (' The label map is loaded only for the pseudo.acc diagnostics; without label '
               'files: --unlabeled-without-labels.')


def _model_block(src: WrappedConfig, row: ProtocolMethod, purifier_kw: dict,
                 notes: List[str]) -> Block:
    """The teacher-student wrapper around the config's model, with the
    method's step and (purified rows) the purifier."""
    segmentor = Ref('_base_.model')
    if src.pads_to_crop():  # the model's own preprocessor, padding to the named crop
        segmentor = Extend('_base_.model', 4, data_preprocessor=Extend(
            '_base_.model.data_preprocessor', 8, size=CROP))
    model = dict(_delete_=True, type='SemiEarthSegmentor', segmentor=segmentor,
                 data_preprocessor=None)
    note = MODEL_NOTE
    if row.semi_method != DEFAULT_SEMI_METHOD or row.settings:
        model['semi_method'] = row.semi_method_cfg()
        note += f'; {SEMI_METHOD_NOTE}'
    if row.train_cfg:
        model['semi_train_cfg'] = dict(row.train_cfg)
    if row.predict_on != 'teacher':
        model['semi_test_cfg'] = dict(predict_on=row.predict_on)
    if row.purified:
        model['purifier'] = purifier(src, notes=notes, indent=4, **purifier_kw)
        note += '.\n' + PURIFIER_NOTE
    return note, dict(model=model)


def _loops_block(src: WrappedConfig, row: ProtocolMethod) -> Block:
    """The runtime's hooks and loops; the checkpoint hook keeps the best
    student for a method that predicts with it."""
    rt = src.runtime
    runtime_types = {h['type'] for h in rt['custom_hooks']}
    hooks = [h for h in src.hooks if h['type'] not in runtime_types] + \
        row.with_hooks(rt['custom_hooks'])
    checkpoint = dict(type=rt['checkpoint_hook'])
    note = ('the teacher-student hooks and loops (EMA teacher, VLM evidence prepared before '
            'training, teacher and student validated, a resumed run skips finished batches '
            'unloaded)')
    if row.predict_on != 'teacher':
        checkpoint.update(save_best=f'{row.predict_on}/mIoU', rule='greater')
        note += '; ' + STUDENT_NOTE.format(method=row.semi_method)
    return note, dict(custom_hooks=hooks, train_cfg=dict(type=rt['train_loop']),
                      val_cfg=dict(_delete_=True, type=rt['val_loop']),
                      default_hooks=dict(checkpoint=checkpoint))


def teacher_student_blocks(src: WrappedConfig, method: str, tag: str, num_labeled: int,
                           num_unlabeled: int, with_labels: bool, shared: Iterable[str],
                           labeled_only: Iterable[str], purifier_kw: dict,
                           notes: List[str]) -> List[Block]:
    """A semi-supervised leaf's overrides (every row but supervised)."""
    row = protocol_method(method)
    pipes = _pipelines(src, row, with_labels, shared, labeled_only)
    strong = STRONG_VIEWS[len(row.strong_views)]
    return [
        ('', dict(custom_imports=IMPORTS)),
        *src.crop_block(),
        _model_block(src, row, purifier_kw, notes),
        ('', _optimizer_block(src, notes)),
        ('labeled: the wrapped training pipeline, packed as the sup branch',
         dict(labeled_pipeline=pipes['labeled_pipeline'])),
        (UNLABELED_NOTE.format(strong=strong) + (LABELS_NOTE if with_labels else ''),
         dict(unlabeled_pipeline=pipes['unlabeled_pipeline'])),
        (f"{num_labeled} labeled + {num_unlabeled} unlabeled images per GPU and step, from "
         "the wrapped config's training set; labeled lists: this ratio's",
         _dataloader(src, tag, num_labeled, num_unlabeled, with_labels)),
        _loops_block(src, row),
    ]


def wrap_config(spec: str, method: str, ratio: str, out: Optional[str] = None,
                num_labeled: Optional[int] = None, num_unlabeled: Optional[int] = None,
                unlabeled_labels: bool = True, shared: Iterable[str] = (),
                labeled_only: Iterable[str] = (), class_names: Optional[str] = None,
                cache_dir: Optional[str] = None, argv: Optional[List[str]] = None,
                fixmatch_base: Optional[str] = None, over: Optional[str] = None,
                crop_size: Optional[Sequence[int]] = None) -> Tuple[str, List[str]]:
    """The text of a ``method`` leaf over the mmseg config ``spec`` at the
    labeled ``ratio``, and notes for the user.

    Args:
        spec: ``mmseg::<zoo path>`` or a config file.
        method: a row of :data:`~.methods.PROTOCOL_METHODS`: 'supervised'
            (the config itself on the labeled list), 'fixmatch', 'semiearth'
            (FixMatch + purifier), 'unimatch_v2', 'unimatch' and their
            purified '-vlmpp' rows.
        ratio: one of the protocol's ratios (``PROTOCOL_RATIOS``).
        out: where the leaf will be written (relative ``_base_`` paths are
            computed from it); None: absolute paths (printed leaf).
        num_labeled / num_unlabeled: per-GPU labeled / unlabeled images of a
            batch; default: the config's batch size for both.
        unlabeled_labels: load unlabeled label maps for the ``pseudo.acc``
            diagnostics (False: no label file needed for unlabeled images).
        shared / labeled_only: transform types to classify (see
            :func:`~.pipelines.unlabeled_pipeline`).
        class_names: purified rows: the VLM's class-name list; default: the ready
            list matching the dataset's classes, else the class names.
        cache_dir: purified rows: the evidence cache; default
            ``<data_root>/vlm_cache/mmseg_vit-b16_segearth``.
        argv: the command line, shown in the header.
        fixmatch_base: purified rows only: a leaf of the same method
            without the purifier (``semiearth``: ``fixmatch``), written by this
            tool for the same config; the leaf inherits it and adds only the
            purifier.
        over: a leaf this tool wrote for the same config and method at
            another ratio; the leaf inherits it and sets only its lists.
        crop_size: (h, w) training crop instead of the config's; its resize
            scales follow (times the new crop over the old).
    """
    row = protocol_method(method)
    tag = protocol_ratio_tag(ratio)
    if over is not None:
        return ratio_leaf(spec, method, tag, over, out, argv or []), []
    if fixmatch_base is not None and not row.purified:
        purified = ', '.join(m for m in METHODS if protocol_method(m).purified)
        raise ValueError(f'--fixmatch-base is for --method semiearth (or another purified '
                         f'method: {purified}), not {method!r}: a purified leaf is the '
                         'leaf of its method plus the purifier.')
    if fixmatch_base is not None and crop_size is not None:
        raise ValueError('--crop-size with --fixmatch-base: the crop is the FixMatch '
                         "leaf's. Fix: write the FixMatch leaf with --crop-size.")
    src, notes = WrappedConfig(spec, out, crop_size), []
    head = src.header(method, tag, argv or [])
    purifier_kw = dict(class_names=class_names, cache_dir=cache_dir)
    if method == 'supervised':
        return render(head, [src.base], supervised_blocks(src, tag)), notes
    if fixmatch_base is not None:
        check_own_leaf(fixmatch_base, row.plain, spec, '--fixmatch-base')
        model = dict(purifier=purifier(src, notes=notes, indent=4, **purifier_kw))
        bases = [relative_to(fixmatch_base, out), relative_to(PURIFIER_BASE, out)]
        return render(head, bases, [(PURIFIER_NOTE, dict(model=model))]), notes
    batch = int(src.loader.get('batch_size', 1))
    bases = [src.base] + ([relative_to(PURIFIER_BASE, out)] if row.purified else [])
    blocks = teacher_student_blocks(
        src, method, tag, num_labeled or batch, num_unlabeled or batch, unlabeled_labels,
        shared, labeled_only, purifier_kw, notes)
    return render(head, bases, blocks), notes
