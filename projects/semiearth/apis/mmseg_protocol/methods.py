"""The methods the wrap tool writes leaves for, as a table: one row per
method (its name on the command line, the title its leaves start with, the
registered S4 method, the purifier, the model it keeps). Everything else
follows from the row or from the registered method: which batch branches
the pipelines pack (``branches`` of the method's class: a second strong
view for UniMatch / UniMatch V2), whether the leaf inherits the purifier
base. A new method is one more row."""
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

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
    """
    name: str
    title: str
    semi_method: Optional[str] = None
    purified: bool = False
    plain: Optional[str] = None
    predict_on: str = 'teacher'
    file_tag: str = ''

    @property
    def tag(self) -> str:
        """The method's token in file names."""
        return self.file_tag or self.name

    @property
    def branches(self) -> Tuple[str, ...]:
        """The batch branches the method's step reads (its class's)."""
        if self.semi_method is None:
            return ('sup', )
        return tuple(MODELS.get(self.semi_method).branches)

    @property
    def strong_views(self) -> Tuple[str, ...]:
        """The strong-view branches (``unsup_strong``, ``unsup_strong2``...)."""
        return tuple(b for b in self.branches if b.startswith('unsup_strong'))


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
    ProtocolMethod('unimatch_v2', 'UniMatch V2 with an EMA teacher (SemiEarthSegmentor, no '
                   'purifier)', 'UniMatchV2', file_tag='unimatch-v2'),
    ProtocolMethod('unimatch_v2-vlmpp', 'UniMatch V2 + VLM-PP purified pseudo-labels',
                   'UniMatchV2', purified=True, plain='unimatch_v2',
                   file_tag='unimatch-v2-vlmpp'),
    ProtocolMethod('unimatch', 'UniMatch, pseudo-labels from the online model '
                   '(SemiEarthSegmentor, no purifier)', 'UniMatch', predict_on='student'),
    ProtocolMethod('unimatch-vlmpp', 'UniMatch + VLM-PP purified pseudo-labels', 'UniMatch',
                   purified=True, plain='unimatch', predict_on='student'),
)
METHODS = tuple(PROTOCOL_METHODS)


def protocol_method(name: str) -> ProtocolMethod:
    """The row named ``name``; an unknown name is an error listing the rows."""
    if name not in PROTOCOL_METHODS:
        raise ValueError(f"method {name!r} is not one of {', '.join(METHODS)}.")
    return PROTOCOL_METHODS[name]
