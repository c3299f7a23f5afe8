"""The mmseg model-zoo protocol: semi-supervised runs on the data layout,
split and model that mmseg's zoo reports, so that a run with 1/8 of the
labels can be read against the zoo's fully supervised number.

Two pieces live here, shared by the tools and the tests:

- the protocol's labeled ratios and split-list names
  (``tools/dataset_converters/mmseg_splits.py`` writes the lists);
- :func:`wrap_config`: an existing mmseg config (a zoo file ``mmseg::...`` or
  the user's own) turned into the text of a supervised, FixMatch or SemiEarth
  leaf at a labeled ratio (``tools/misc/wrap_mmseg_config.py``; the configs in
  ``configs/mmseg_protocol/_base_/`` are its output).

A wrapped leaf inherits the config it wraps and changes only what the method
needs: the training set becomes a :class:`SemiDataset` of the labeled and
unlabeled lists, the model a :class:`SemiEarthSegmentor` around the config's
own model, plus the teacher-student hooks and loops. Model, crop, optimiser,
schedule, test mode, evaluator and val/test data stay the wrapped config's.
"""
import inspect
import os
import os.path as osp
import re
import shlex
from fractions import Fraction
from typing import Iterable, List, Optional, Sequence, Tuple

from mmengine.config import Config

# the mmseg protocol's labeled ratios of img_dir/train (the usual S4 ratios
# of the natural-image benchmarks, which the zoo's RS datasets lacked)
PROTOCOL_RATIOS = ('1/16', '1/8', '1/4', '1/2')
METHODS = ('supervised', 'fixmatch', 'semiearth')
# split lists live apart from the DWL converters' splits/*.txt: both layouts
# default to data/potsdam and data/vaihingen
SPLIT_DIR = 'splits/mmseg'
REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))
PURIFIER_BASE = osp.join(REPO_ROOT, 'configs', '_base_', 'purifiers',
                         'vlm-pp_segearth-vit-b16.py')
# the semi-supervised hooks and loops a wrapped config takes (not its
# optimiser or length: those stay the wrapped config's)
SEMI_SCHEDULE = osp.join(REPO_ROOT, 'configs', '_base_', 'schedules',
                         'schedule_unimatch-v2_semi.py')
BRANCHES = ['sup', 'unsup_weak', 'unsup_strong']

# How each transform of the wrapped training pipeline serves the unlabeled
# views. Shared steps run once before the views split, so weak and strong
# views keep one geometry (and SemiEarth's source coordinates follow it):
# loading, deterministic preprocessing (also applied at test time) and
# geometry. Random appearance changes and label-driven steps stay with the
# labeled view only; the strong view has its own (UniMatch-V2's).
IMAGE_LOADERS = {'LoadImageFromFile', 'LoadRSImageFromFile', 'LoadImageFromNDArray',
                 'LoadBiomedicalImageFromFile'}
LABEL_LOADERS = {'LoadAnnotations', 'CheckSegLabels'}
SHARED = {'Resize', 'RandomResize', 'RandomChoiceResize', 'ResizeShortestEdge',
          'ResizeToMultiple', 'RandomCrop', 'RandomFlip', 'CLAHE', 'AdjustGamma',
          'RGB2Gray'}
LABELED_ONLY = {'PhotoMetricDistortion', 'RandomCutOut', 'GenerateEdge'}
PACK = 'PackSegInputs'
STRONG_VIEW = [
    dict(type='RandomColorJitter', brightness=0.5, contrast=0.5, saturation=0.5,
         hue=0.25, prob=0.8),
    dict(type='RandomGrayscaleRGB', prob=0.2),
    dict(type='RandomGaussianBlur', prob=0.5, sigma_range=(0.1, 2.0)),
]
MMSEG_NAME = re.compile(r'^(?P<algo>[a-z0-9.]+)_(?P<backbone>[^_]+)_(?P<gpus>\d+)xb(?P<batch>\d+)'
                        r'-(?P<sched>[^_]+)_(?P<dataset>[^_-]+)-(?P<crop>\d+x\d+)$')


# ----------------------------------------------------------------- ratios
def protocol_ratio_tag(ratio: str) -> str:
    """'1/8' (or '1of8', '0.125') -> '1of8', the token of split-list and
    config names; any ratio outside :data:`PROTOCOL_RATIOS` is an error."""
    text = str(ratio).strip().replace('of', '/')
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        value = None
    allowed = {Fraction(r): r for r in PROTOCOL_RATIOS}
    if value not in allowed:
        raise ValueError(
            f"labeled ratio {ratio!r} is not one of the mmseg protocol's "
            f"{', '.join(PROTOCOL_RATIOS)} (of img_dir/train). Fix: pick one of them; "
            'for another labeled set, write its list (one image name a line, no '
            'suffix) and set ann_file of the labeled and unlabeled datasets by hand.')
    return f'{value.numerator}of{value.denominator}'


def split_files(tag: str) -> Tuple[str, str]:
    """(labeled, unlabeled) list of a ratio tag, relative to the data root."""
    return (f'{SPLIT_DIR}/train_labeled_{tag}.txt', f'{SPLIT_DIR}/train_unlabeled_{tag}.txt')


# ---------------------------------------------------------------- configs
def resolve_config(spec: str) -> str:
    """The file of ``spec``: ``mmseg::<path under mmseg's configs/>`` (the
    zoo as installed with mmseg) or a path."""
    if '::' in spec:
        package, _, rel = spec.partition('::')
        if package != 'mmseg':
            raise ValueError(f"config {spec!r}: only 'mmseg::' zoo paths are known here. "
                             'Fix: give the path of the config file instead.')
        from mmengine.utils import get_installed_path
        path = osp.join(get_installed_path('mmseg'), '.mim', 'configs', rel)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f"config {spec!r}: mmseg {_mmseg_version()} has no '{rel}' under its "
                "configs/. Fix: name a file of mmseg's configs/ as in its repository, "
                'e.g. mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_potsdam-512x512.py.')
        return path
    if not osp.isfile(spec):
        raise FileNotFoundError(f"config '{spec}' does not exist.")
    return spec


def _mmseg_version() -> str:
    """The installed mmseg's version (named in errors about its zoo)."""
    import mmseg
    return mmseg.__version__


def strip_scope(obj):
    """A plain copy without mmengine's ``_scope_='mmseg'`` marks (mmseg is
    the default scope of every config here)."""
    if isinstance(obj, dict):
        return {k: strip_scope(v) for k, v in obj.items()
                if not (k == '_scope_' and v == 'mmseg')}
    if isinstance(obj, (list, tuple)):
        return type(obj)(strip_scope(v) for v in obj)
    return obj


def _dataset_class(ds_cfg: dict, where: str):
    from mmseg.datasets import BaseSegDataset
    from mmseg.registry import DATASETS
    cls = DATASETS.get(ds_cfg.get('type')) if isinstance(ds_cfg.get('type'), str) else None
    if cls is None or not issubclass(cls, BaseSegDataset):
        raise ValueError(
            f"{where}: train_dataloader.dataset is {ds_cfg.get('type')!r}, not one mmseg "
            'segmentation dataset (a BaseSegDataset such as PotsdamDataset). A dataset '
            'wrapper (ConcatDataset, RepeatDataset, ...) has no single image folder to '
            'split. Fix: wrap a config that trains on one dataset, or write the labeled '
            'and unlabeled datasets of a SemiDataset by hand (docs/mmseg_zoo.md).')
    return cls


def dataset_defaults(ds_cfg: dict, where: str = 'config') -> dict:
    """img_suffix, seg_map_suffix and reduce_zero_label of a dataset config:
    its own values, else its class's defaults."""
    cls = _dataset_class(ds_cfg, where)
    out = {}
    for c in cls.__mro__:
        if '__init__' not in vars(c):
            continue
        for name, p in inspect.signature(c.__init__).parameters.items():
            if name in ('img_suffix', 'seg_map_suffix', 'reduce_zero_label') and \
                    name not in out and p.default is not inspect.Parameter.empty:
                out[name] = p.default
    out.update({k: ds_cfg[k] for k in ('img_suffix', 'seg_map_suffix', 'reduce_zero_label')
                if k in ds_cfg})
    return out


def unlabeled_pipeline(train_pipeline: Sequence[dict], with_labels: bool = True,
                       shared: Iterable[str] = (), labeled_only: Iterable[str] = (),
                       where: str = 'config') -> List[dict]:
    """The unlabeled pipeline derived from a training pipeline: its loading,
    preprocessing and geometry once, then a weak view (as is) and a strong
    view (UniMatch-V2's colour jitter, grayscale, blur).

    ``RandomCrop`` loses ``cat_max_ratio``: that option picks crops by their
    label histogram, and an unlabeled image's label must not steer training.
    With ``with_labels`` the label map is still loaded, for the
    ``pseudo.acc`` diagnostics only (no loss reads it). ``shared`` and
    ``labeled_only`` classify transforms this module does not know."""
    shared, labeled_only = set(SHARED) | set(shared), set(LABELED_ONLY) | set(labeled_only)
    steps = [dict(t) for t in train_pipeline]
    if not steps or steps[-1].get('type') != PACK:
        raise ValueError(
            f'{where}: the training pipeline ends with '
            f"{steps[-1].get('type') if steps else 'nothing'!r}, not {PACK}; the wrap tool "
            f'replaces that last step by the views. Fix: end the pipeline with {PACK}.')
    out, coords_added = [], False
    for i, step in enumerate(steps[:-1]):
        kind = step.get('type')
        if kind in IMAGE_LOADERS or kind in LABEL_LOADERS:
            if kind in IMAGE_LOADERS or with_labels:
                out.append(step)
            continue
        if not coords_added:
            # source pixel coordinates, recorded before any geometry, follow the
            # views (SemiEarth looks its cached VLM evidence up with them)
            out.append(dict(type='AddSourceCoords'))
            coords_added = True
        if kind in labeled_only:
            continue
        if kind not in shared:
            raise ValueError(
                f'{where}: training pipeline step {i} is {kind!r}, and it is not known '
                'whether it belongs to both unlabeled views (loading, deterministic '
                'preprocessing, geometry: the views must share it) or to the labeled '
                'view only (random appearance changes, label-driven steps). Fix: pass '
                f'--shared {kind} or --labeled-only {kind}.')
        if kind == 'RandomCrop':
            step.pop('cat_max_ratio', None)
            step.pop('ignore_index', None)
        out.append(step)
    if not coords_added:
        out.append(dict(type='AddSourceCoords'))
    pack = _semi_pack(steps[-1])
    out.append(dict(type='MultiBranch', branch_field=BRANCHES,
                    unsup_weak=[dict(pack)],
                    unsup_strong=[*[dict(t) for t in STRONG_VIEW], dict(pack)]))
    return out


def labeled_pipeline(train_pipeline: Sequence[dict], where: str = 'config') -> List[dict]:
    """The training pipeline as it is, packed into the ``sup`` branch."""
    steps = [dict(t) for t in train_pipeline]
    if not steps or steps[-1].get('type') != PACK:
        raise ValueError(f'{where}: the training pipeline does not end with {PACK}. '
                         f'Fix: end it with {PACK}.')
    return [*steps[:-1], dict(type='MultiBranch', branch_field=BRANCHES,
                              sup=[_semi_pack(steps[-1])])]


def _semi_pack(pack: dict) -> dict:
    """The config's PackSegInputs (its meta_keys kept) as PackSemiSegInputs,
    which also packs the per-pixel fields (source coordinates)."""
    return dict(pack, type='PackSemiSegInputs')


def ready_class_names(classes: Sequence[str]) -> Optional[str]:
    """The ready VLM class-name list whose classes are ``classes`` (in
    order), or None."""
    from ..vlm.class_names import RS_CLASS_NAMES
    for name, table in RS_CLASS_NAMES.items():
        if list(table) == list(classes):
            return name
    return None


# ---------------------------------------------------------------- writing
def _is_ident(key) -> bool:
    """Whether ``key`` can be written as ``dict(key=...)``."""
    return isinstance(key, str) and key.isidentifier()


def fmt(value, indent: int = 0, col: Optional[int] = None, width: int = 88) -> str:
    """``value`` as config source: dicts as ``dict(k=v)``; what does not fit
    on the line (starting at column ``col``) is broken into one item a line,
    indented by 4 more than the line's ``indent``."""
    one = _fmt_line(value)
    if (indent if col is None else col) + len(one) <= width:
        return one
    ind = indent + 4
    pad = ' ' * ind
    if isinstance(value, dict):
        if all(_is_ident(k) for k in value):
            items = [f'{pad}{k}={fmt(v, ind, ind + len(k) + 1, width)}' for k, v in value.items()]
            return 'dict(\n' + ',\n'.join(items) + ')'
        items = [f'{pad}{k!r}: {fmt(v, ind, ind + len(repr(k)) + 2, width)}'
                 for k, v in value.items()]
        return '{\n' + ',\n'.join(items) + '}'
    if isinstance(value, (list, tuple)):
        open_, close = ('[', ']') if isinstance(value, list) else ('(', ')')
        items = [f'{pad}{fmt(v, ind, ind, width)}' for v in value]
        tail = ',' if isinstance(value, tuple) and len(value) == 1 else ''
        return open_ + '\n' + ',\n'.join(items) + tail + close
    return one


def _fmt_line(value) -> str:
    """``value`` as config source on one line."""
    if isinstance(value, dict):
        if all(_is_ident(k) for k in value):
            return 'dict(' + ', '.join(f'{k}={_fmt_line(v)}' for k, v in value.items()) + ')'
        return '{' + ', '.join(f'{k!r}: {_fmt_line(v)}' for k, v in value.items()) + '}'
    if isinstance(value, list):
        return '[' + ', '.join(_fmt_line(v) for v in value) + ']'
    if isinstance(value, tuple):
        inner = ', '.join(_fmt_line(v) for v in value)
        return f'({inner},)' if len(value) == 1 else f'({inner})'
    return repr(value)


def _display_path(path: str) -> str:
    """A path as the generated header shows it: repository-relative when
    inside the repository (so regenerating gives the same text from any
    working directory)."""
    full = osp.abspath(path)
    if full.startswith(REPO_ROOT + os.sep):
        return osp.relpath(full, REPO_ROOT)
    return path


def _display_arg(arg: str) -> str:
    """A command-line argument as the header shows it (paths repository-relative)."""
    if '::' in arg or arg.startswith('-') or not (arg.endswith('.py') or osp.exists(arg)):
        return arg
    return _display_path(arg)


def _ref(target: str, out: Optional[str]) -> str:
    """How a leaf written to ``out`` names ``target``: relative to ``out``'s
    folder, or absolute when the leaf is printed."""
    if out is None:
        return osp.abspath(target)
    return osp.relpath(osp.abspath(target), osp.dirname(osp.abspath(out)))


def suggest_name(spec: str, method: str, tag: str, batch: int) -> str:
    """The leaf's file name, in this repository's config naming:
    ``{method}_{algo}-{backbone}_{gpus}xb{batch}-{schedule}_mmseg-{dataset}-{ratio}-{crop}.py``
    for a zoo-named config; ``{method}-{ratio}_{name}.py`` otherwise."""
    stem = osp.splitext(osp.basename(spec.split('::')[-1]))[0]
    m = MMSEG_NAME.match(stem)
    if not m:
        return f'{method}-{tag}_{stem}.py'
    return (f"{method}_{m['algo']}-{m['backbone']}_{m['gpus']}xb{batch}-{m['sched']}_"
            f"mmseg-{m['dataset']}-{tag}-{m['crop']}.py")


def ratio_lines(method: str, tag: str) -> str:
    """The lines that set a leaf's labeled ratio (its split lists)."""
    labeled, unlabeled = split_files(tag)
    if method == 'supervised':
        return f"train_dataloader = dict(dataset=dict(ann_file='{labeled}'))\n"
    return ('train_dataloader = dict(dataset=dict(\n'
            f"    labeled=dict(ann_file='{labeled}'),\n"
            f"    unlabeled=dict(ann_file='{unlabeled}')))\n")


def wrap_config(spec: str, method: str, ratio: str, out: Optional[str] = None,
                num_labeled: Optional[int] = None, num_unlabeled: Optional[int] = None,
                unlabeled_labels: bool = True, shared: Iterable[str] = (),
                labeled_only: Iterable[str] = (), class_names: Optional[str] = None,
                cache_dir: Optional[str] = None, argv: Optional[List[str]] = None,
                fixmatch_base: Optional[str] = None) -> Tuple[str, List[str]]:
    """The text of a ``method`` leaf over the mmseg config ``spec`` at the
    labeled ``ratio``, and notes for the user.

    Args:
        spec: ``mmseg::<zoo path>`` or a config file.
        method: 'supervised' (the config itself on the labeled list),
            'fixmatch' or 'semiearth'.
        ratio: one of :data:`PROTOCOL_RATIOS`.
        out: where the leaf will be written (relative ``_base_`` paths are
            computed from it); None: absolute paths (printed leaf).
        num_labeled / num_unlabeled: per-GPU labeled / unlabeled images of a
            batch; default: the config's batch size for both (the labeled
            stream is the config's own, the unlabeled one comes on top).
        unlabeled_labels: load unlabeled label maps for the ``pseudo.acc``
            diagnostics (False: no label file needed for unlabeled images).
        shared / labeled_only: transform types to classify (see
            :func:`unlabeled_pipeline`).
        class_names: the VLM's class-name list (SemiEarth); default: the
            ready list matching the dataset's classes, else the class names.
        cache_dir: SemiEarth's evidence cache; default
            ``<data_root>/vlm_cache/mmseg_vit-b16_segearth``.
        argv: the command line, shown in the header.
        fixmatch_base: SemiEarth only: a FixMatch leaf this tool wrote for
            the same config; the SemiEarth leaf inherits it and adds only
            the purifier (one place for the pipelines, data and hooks).
    """
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}.")
    tag = protocol_ratio_tag(ratio)
    path = resolve_config(spec)
    cfg = Config.fromfile(path)
    where = spec
    loader = strip_scope(cfg.train_dataloader.to_dict())
    ds = loader['dataset']
    cls = _dataset_class(ds, where)
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_iters' not in train_cfg:
        raise ValueError(
            f"{where}: train_cfg is {train_cfg.get('type')!r} without max_iters; the "
            'semi-supervised sampler and loops are iteration based (an endless stream '
            'of labeled + unlabeled batches). Fix: wrap an IterBasedTrainLoop config.')
    defaults = dataset_defaults(ds, where)
    base = spec if spec.startswith('mmseg::') else _ref(path, out)
    notes = []
    labeled_list, unlabeled_list = split_files(tag)
    batch = int(loader.get('batch_size', 1))
    num_labeled = num_labeled or batch
    num_unlabeled = num_unlabeled or batch
    total = num_labeled + num_unlabeled if method != 'supervised' else batch
    name = suggest_name(spec, method, tag, total)
    cmd = ' '.join(shlex.quote(_display_arg(a)) for a in (argv or []))
    head = [f'# {_title(method)}, {tag.replace("of", "/")} of the training images',
            '# labeled (mmseg protocol, docs/mmseg_zoo.md), wrapping', f'#   {spec}']
    if cmd:
        head += ['# Written by: python tools/misc/wrap_mmseg_config.py \\',
                 *_wrap_words(cmd, '#   ', ' \\')]
    head += _split_command_lines(ds, defaults, cls.__name__)
    head.append('# Everything not set here is the wrapped config\'s: model, crop, optimiser,')
    head.append('# schedule, test mode, evaluator, val / test data.')
    lines = ['\n'.join(head)]
    imports = dict(imports=['semiearth'], allow_failed_imports=False)
    hooks = strip_scope([dict(h) for h in cfg.get('custom_hooks') or []])
    if method == 'supervised':
        lines.append(f'_base_ = [{base!r}]')
        lines.append(f'custom_imports = {fmt(imports)}')
        lines.append('# checks classes, crop and every image / label before iteration 1')
        check = [h for h in hooks if h['type'] != 'ConfigCheckHook']
        lines.append(f"custom_hooks = {fmt(check + [dict(type='ConfigCheckHook')], 0, 15)}")
        lines.append("default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))")
        lines.append(ratio_lines(method, tag).rstrip('\n'))
        return '\n'.join(lines) + '\n', notes
    if fixmatch_base is not None:
        if method != 'semiearth':
            raise ValueError(f'--fixmatch-base is for --method semiearth, not {method!r}: '
                             'a SemiEarth leaf is a FixMatch leaf plus the purifier.')
        if not osp.isfile(fixmatch_base):
            raise FileNotFoundError(f"--fixmatch-base '{fixmatch_base}' does not exist. Fix: "
                                    'write it first with --method fixmatch.')
        fm_head = open(fixmatch_base).read().split('\n', 3)
        if not (fm_head[0].startswith(f'# {_title("fixmatch")}') and fm_head[2] == f'#   {spec}'):
            raise ValueError(f"--fixmatch-base '{fixmatch_base}' is not this tool's FixMatch "
                             f'leaf for {spec}. Fix: write it with --method fixmatch {spec}.')
        lines.append('_base_ = [\n' + ''.join(
            f'    {b!r},\n' for b in (_ref(fixmatch_base, out), _ref(PURIFIER_BASE, out))) + ']')
        lines.append(_purifier_lines(cfg, ds, cls, class_names, cache_dir, notes, where)
                     .replace('MODEL,\n', 'model = dict(\n'))
        return '\n'.join(lines) + '\n', notes
    bases = [base]
    if method == 'semiearth':
        bases.append(_ref(PURIFIER_BASE, out))
    lines.append('_base_ = [\n' + ''.join(f'    {b!r},\n' for b in bases) + ']')
    lines.append(f'custom_imports = {fmt(imports)}')
    lines.append(
        '# the teacher-student wrapper around the config\'s model; data_preprocessor=None:\n'
        "# the wrapper makes the model's own a SemiSegDataPreProcessor (and None keeps\n"
        "# mmengine's Runner from putting the config's top-level data_preprocessor here)")
    model = ("model = dict(\n    _delete_=True, type='SemiEarthSegmentor', "
             'segmentor={{_base_.model}},\n    data_preprocessor=None')
    if method == 'fixmatch':
        lines.append(model + ')')
    else:
        lines.append(_purifier_lines(cfg, ds, cls, class_names, cache_dir, notes, where)
                     .replace('MODEL', model))
    with_labels = unlabeled_labels
    lab = labeled_pipeline(strip_scope(list(ds['pipeline'])), where)
    unl = unlabeled_pipeline(strip_scope(list(ds['pipeline'])), with_labels, shared,
                             labeled_only, where)
    lines.append('# labeled: the wrapped training pipeline, packed as the sup branch')
    lines.append(f'labeled_pipeline = {fmt(lab, 0, 19)}')
    comment = ('# unlabeled: its loading and geometry once (no label-driven crop), then '
               'a weak\n# view and a strong view (colour jitter, grayscale, blur; CutMix in '
               'the model).')
    if with_labels:
        comment += ('\n# The label map is loaded only for the pseudo.acc diagnostics; '
                    'without label\n# files: --unlabeled-without-labels.')
    lines.append(comment)
    lines.append(f'unlabeled_pipeline = {fmt(unl, 0, 21)}')
    part = {k: v for k, v in ds.items() if k not in ('pipeline', 'ann_file')}
    unl_part = dict(part)
    if not with_labels:
        prefix = dict(part.get('data_prefix') or {})
        prefix.pop('seg_map_path', None)
        unl_part['data_prefix'] = prefix
    rest = {k: v for k, v in loader.items()
            if k not in ('dataset', 'sampler', 'batch_size', 'batch_sampler')}
    dataloader = dict(
        _delete_=True, batch_size=total, **rest,
        sampler=dict(type='SemiSampler', batch_size=total, num_labeled=num_labeled),
        dataset=dict(type='SemiDataset',
                     labeled=dict(part, ann_file=labeled_list, pipeline='LABELED'),
                     unlabeled=dict(unl_part, ann_file=unlabeled_list, pipeline='UNLABELED')))
    text = fmt(dataloader, 0, 19).replace("'LABELED'", 'labeled_pipeline') \
        .replace("'UNLABELED'", 'unlabeled_pipeline')
    lines.append(f'# {num_labeled} labeled + {num_unlabeled} unlabeled images per GPU and '
                 'step; labeled lists: this ratio\'s')
    lines.append(f'train_dataloader = {text}')
    runtime = semi_runtime()
    lines.append(f"# the teacher-student hooks and loops of {_display_path(SEMI_SCHEDULE)}:")
    lines.append('# EMA teacher (decay min(1 - 1/(t+1), 0.996)), VLM evidence prepared before '
                 'training,\n# teacher and student validated, a resumed run skips finished '
                 'batches unloaded')
    semi_hooks = [h for h in hooks if h['type'] not in {t['type'] for t in runtime['hooks']}]
    lines.append(f"custom_hooks = {fmt(semi_hooks + runtime['hooks'], 0, 15)}")
    lines.append(f"train_cfg = dict(type={runtime['train_loop']!r})")
    lines.append(f"val_cfg = dict(_delete_=True, type={runtime['val_loop']!r})")
    lines.append("default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))")
    return '\n'.join(lines) + '\n', notes


def _wrap_words(text: str, prefix: str, cont: str, width: int = 88) -> List[str]:
    """``text`` over lines of at most ``width`` (a longer word stands alone),
    each line but the last ending in ``cont``."""
    lines, line = [], ''
    for word in text.split(' '):
        if line and len(prefix) + len(line) + 1 + len(word) + len(cont) > width:
            lines.append(line)
            line = word
        else:
            line = f'{line} {word}' if line else word
    lines.append(line)
    return [prefix + s + (cont if i < len(lines) - 1 else '') for i, s in enumerate(lines)]


def semi_runtime() -> dict:
    """The teacher-student hooks and loops of this repository's semi
    schedule (:data:`SEMI_SCHEDULE`), so wrapped configs follow it: its
    ``custom_hooks`` and the types of its train and val loops."""
    sched = Config.fromfile(SEMI_SCHEDULE)
    return dict(hooks=strip_scope([dict(h) for h in sched.custom_hooks]),
                train_loop=sched.train_cfg['type'], val_loop=sched.val_cfg['type'])


def _title(method: str) -> str:
    return {'supervised': 'Supervised (the config itself, labeled images only)',
            'fixmatch': 'FixMatch with an EMA teacher (SemiEarthSegmentor, no purifier)',
            'semiearth': 'SemiEarth (FixMatch + VLM-PP purified pseudo-labels)'}[method]


def _split_command_lines(ds: dict, defaults: dict, cls_name: str) -> List[str]:
    """Header lines with the command that writes this leaf's split lists."""
    prefix = ds.get('data_prefix') or {}
    args = [ds.get('data_root') or 'DATA_ROOT']
    img, ann = prefix.get('img_path'), prefix.get('seg_map_path')
    if img and img != 'img_dir/train':
        args += ['--img-dir', img]
    if ann and ann != 'ann_dir/train':
        args += ['--ann-dir', ann]
    if defaults.get('img_suffix', '.png') != '.png':
        args += ['--img-suffix', defaults['img_suffix']]
    if defaults.get('seg_map_suffix', '.png') != '.png':
        args += ['--seg-map-suffix', defaults['seg_map_suffix']]
    if ds.get('ann_file'):
        args += ['--train-list', ds['ann_file']]
    command = 'python tools/dataset_converters/mmseg_splits.py ' + \
        ' '.join(shlex.quote(a) for a in args)
    return ['# Split lists (once per dataset, all ratios; data from mmseg\'s converter for '
            f'{cls_name}):', *_wrap_words(command, '#   ', ' \\')]


def _purifier_lines(cfg: Config, ds: dict, cls, class_names: Optional[str],
                    cache_dir: Optional[str], notes: List[str], where: str) -> str:
    """SemiEarth's ``model = ...`` with the purifier of the inherited
    purifier base, set for this dataset and this model's normalisation."""
    classes = list(cls.METAINFO.get('classes', ()))
    if ds.get('metainfo', {}).get('classes'):
        classes = list(ds['metainfo']['classes'])
    names = class_names or ready_class_names(classes)
    names_comment = ''
    if names is None:
        names = {c: [c.replace('_', ' ')] for c in classes}
        names_comment = ('# no ready synonym list has these classes: each class is its own '
                         'name; add\n# synonyms (several everyday names) for a better VLM\n')
        notes.append(f'{cls.__name__}: no ready class-name list matches its classes; the leaf '
                     'uses the class names themselves (edit class_names to add synonyms).')
    dp = (cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {})
    mean, std = dp.get('mean'), dp.get('std')
    if mean is None or std is None or len(mean) != 3:
        raise ValueError(
            f"{where}: the model's data_preprocessor has mean {mean} / std {std}; SemiEarth's "
            "VLM reads RGB images and un-normalises them with the segmentor's 3-band mean "
            'and std. Fix: give model.data_preprocessor mean and std (3 values each).')
    rgb = (0, 1, 2) if dp.get('bgr_to_rgb') else (2, 1, 0)
    if cache_dir is None:
        if not ds.get('data_root'):
            raise ValueError(f'{where}: the training dataset has no data_root to keep the '
                             'VLM evidence cache under. Fix: pass --cache-dir DIR.')
        cache_dir = osp.join(ds['data_root'], 'vlm_cache', 'mmseg_vit-b16_segearth')
    vlm = dict(class_names=names, input_mean=list(mean), input_std=list(std),
               rgb_bands=rgb)
    vlm_text = ''.join(f',\n            {k}={fmt(v, 12, 12 + len(k) + 1)}' for k, v in vlm.items())
    return (
        '# the purifier of the purifier base (above), for this dataset and this model\'s\n'
        '# normalisation (read as _base_.purifier, which, unlike the double-brace form,\n'
        '# can be extended in place).\n'
        "# VLM evidence: the purifier base's write-through cache (evidence='auto');\n"
        '# python tools/precompute_vlm.py THIS_CONFIG computes every map up front\n'
        + names_comment
        + 'MODEL,\n'
        '    purifier=dict(\n'
        '        _base_.purifier,\n'
        f'        cache_dir={cache_dir!r},\n'
        f'        vlm=dict(\n            _base_.purifier.vlm{vlm_text})))')
