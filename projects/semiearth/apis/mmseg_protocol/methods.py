"""The methods the wrap tool writes leaves for, as a table: one row per
method (its name on the command line, the title its leaves start with, the
registered S4 method, the purifier, the model it keeps). Everything else
follows from the row or from the registered method: which batch branches
the pipelines pack (``branches`` of the method's class: a second strong
view for UniMatch / UniMatch V2), whether the leaf inherits the purifier
base. A new method is one more row."""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from mmseg.registry import MODELS

# SemiEarthSegmentor's own default step: its leaves need not name it
DEFAULT_SEMI_METHOD = 'FixMatch'


@dataclass(frozen=True)
class ProtocolMethod:
    """One row of the wrap tool's method table.

    Args:
        name: ``--method`` value.
        title: the first words of the leaf's header (``--over`` and the
            base-leaf option check them).
        semi_method: the registered S4 method (``model.semi_method.type``);
            None: supervised (the wrapped config itself).
        purified: the leaf adds the VLM purifier (inherits the purifier base).
        plain: purified rows: the row without the purifier, whose leaf the
            base-leaf option (``--fixmatch-base``) takes.
        predict_on: the model validated, kept (``save_best``) and exported:
            ``'teacher'`` (EMA-teacher methods) or ``'student'`` (methods
            that label with the online model, as UniMatch).
        file_tag: the method's token in the leaf's file name.
        settings: ``model.semi_method`` arguments beyond the class's
            defaults (the method's ``configs/_base_/models/semi_<method>.py``).
        train_cfg: ``model.semi_train_cfg`` keys the method sets.
        hooks: hook configs: one of the runtime's type updates it (Mean
            Teacher's EMA decay), another is added before ``StepRNGHook``
            (DWL's ``ClassifierMergeHook``).
    """
    name: str
    title: str
    semi_method: Optional[str] = None
    purified: bool = False
    plain: Optional[str] = None
    predict_on: str = 'teacher'
    file_tag: str = ''
    settings: Dict = field(default_factory=dict)
    train_cfg: Dict = field(default_factory=dict)
    hooks: Tuple[Dict, ...] = ()

    def semi_method_cfg(self) -> Dict:
        """``model.semi_method`` of the leaf."""
        return dict(type=self.semi_method, **self.settings)

    def with_hooks(self, hooks: List[Dict]) -> List[Dict]:
        """``hooks`` (the runtime's) with :attr:`hooks` applied."""
        out = [dict(h) for h in hooks]
        for hook in self.hooks:
            same = [h for h in out if h['type'] == hook['type']]
            if same:
                same[0].update(hook)
                continue
            at = next((i for i, h in enumerate(out) if h['type'] == 'StepRNGHook'), len(out))
            out.insert(at, dict(hook))
        return out

    @property
    def tag(self) -> str:
        """The method's token in file names."""
        return self.file_tag or self.name

    @property
    def branches(self) -> Tuple[str, ...]:
        """The batch branches the method's step reads (an instance's, with
        the row's settings: Mean Teacher's depend on them)."""
        if self.semi_method is None:
            return ('sup', )
        return tuple(MODELS.build(self.semi_method_cfg()).branches)

    @property
    def strong_views(self) -> Tuple[str, ...]:
        """The strong-view branches (``unsup_strong``, ``unsup_strong2``...)."""
        return tuple(b for b in self.branches if b.startswith('unsup_strong'))


def _purified(row: ProtocolMethod, title: str) -> ProtocolMethod:
    """``row`` with the purifier (``<name>-vlmpp``)."""
    return ProtocolMethod(f'{row.name}-vlmpp', title, row.semi_method, purified=True,
                          plain=row.name, predict_on=row.predict_on,
                          file_tag=f'{row.tag}-vlmpp', settings=row.settings,
                          train_cfg=row.train_cfg, hooks=row.hooks)


# each method's settings: those of its configs/_base_/models/semi_<method>.py
UNIMATCH_V2 = ProtocolMethod(
    'unimatch_v2', 'UniMatch V2 with an EMA teacher (SemiEarthSegmentor, no purifier)',
    'UniMatchV2', file_tag='unimatch-v2', settings=dict(view_weights=(0.5, 0.5),
                                                         kept_ratio=0.5))
UNIMATCH = ProtocolMethod(
    'unimatch', 'UniMatch, pseudo-labels from the online model (SemiEarthSegmentor, no '
    'purifier)', 'UniMatch', predict_on='student',
    settings=dict(loss_weights=(0.25, 0.25, 0.5), fp_dropout=0.5))
MEAN_TEACHER = ProtocolMethod(
    'mean_teacher', 'Mean Teacher with CutMix (SemiEarthSegmentor, no purifier)',
    'MeanTeacher', file_tag='mean-teacher',
    settings=dict(student_view='unsup_weak', conf_per_pixel=False, rampup_length=0),
    train_cfg=dict(sup_weight=1.0, unsup_weight=1.0, conf_thresh=0.97, cutmix_prob=1.0,
                   cutmix_area=(0.5, 0.5)),
    hooks=(dict(type='EMATeacherHook', max_decay=0.99), ))
DWL = ProtocolMethod(
    'dwl', 'DWL, decoupled weighting from the online model (SemiEarthSegmentor, no '
    'purifier)', 'DWL', predict_on='student',
    settings=dict(weighting=dict(memory_batches=50, memory_size=(64, 64), num_bins=20,
                                 warmup_iters=None)),
    train_cfg=dict(sup_weight=1.0, unsup_weight=1.0),
    # the anchor's DeepLabV3+ merge weight, once per pass over the unlabeled set
    hooks=(dict(type='ClassifierMergeHook', alpha=0.5, interval=None), ))


def _rows(*rows: ProtocolMethod) -> Dict[str, ProtocolMethod]:
    table = {}
    for row in rows:
        if row.plain is not None and row.plain not in table:
            raise ValueError(f'method {row.name!r}: plain {row.plain!r} is not an earlier row')
        table[row.name] = row
    return table


PROTOCOL_METHODS = _rows(
    ProtocolMethod('supervised', 'Supervised (the config itself, labeled images only)'),
    ProtocolMethod('fixmatch', 'FixMatch with an EMA teacher (SemiEarthSegmentor, no purifier)',
                   'FixMatch'),
    ProtocolMethod('semiearth', 'SemiEarth (FixMatch + VLM-PP purified pseudo-labels)',
                   'FixMatch', purified=True, plain='fixmatch'),
    UNIMATCH_V2,
    _purified(UNIMATCH_V2, 'UniMatch V2 + VLM-PP purified pseudo-labels'),
    UNIMATCH,
    _purified(UNIMATCH, 'UniMatch + VLM-PP purified pseudo-labels'),
    MEAN_TEACHER,
    _purified(MEAN_TEACHER, 'Mean Teacher + VLM-PP purified pseudo-labels'),
    DWL,
    _purified(DWL, 'DWL + VLM-PP purified pseudo-labels'),
)
METHODS = tuple(PROTOCOL_METHODS)


def protocol_method(name: str) -> ProtocolMethod:
    """The row named ``name``; an unknown name is an error listing the rows."""
    if name not in PROTOCOL_METHODS:
        raise ValueError(f"method {name!r} is not one of {', '.join(METHODS)}.")
    return PROTOCOL_METHODS[name]
