"""The S4 methods the step benchmark can time on one config's model: one
row per method (its variant name and the registered step, its
``model.semi_method`` type). A method's variants are ``<name>`` (no
purifier) and ``<name>_<evidence>`` (the config's purifier with that
evidence source: ``cached``, ``online``); FixMatch's keep their historical
names (``fixmatch``, ``semiearth_<evidence>``). A new method is one more
row (rows whose class is not registered are skipped)."""
from typing import Dict, List, Optional, Tuple

from mmseg.registry import MODELS

# variant name -> registered semi_method type; FixMatch first (the baseline)
METHOD_TYPES: Dict[str, str] = {
    'fixmatch': 'FixMatch',
    'unimatch_v2': 'UniMatchV2',
    'unimatch': 'UniMatch',
    'mean_teacher': 'MeanTeacher',
    'dwl': 'DWL',
}
# what the purified variants of FixMatch are called (SemiEarth = FixMatch + VLM-PP)
PURIFIED_PREFIX = {'fixmatch': 'semiearth'}
EVIDENCE = ('online', 'cached', 'auto')
# the evidence sources other methods are timed with ('auto' steps every
# variant twice: FixMatch's only)
OTHER_EVIDENCE = ('online', 'cached')


def evidence_sources(method: str) -> Tuple[str, ...]:
    """The evidence sources ``method``'s purified variants are timed with."""
    return EVIDENCE if method == 'fixmatch' else OTHER_EVIDENCE


def registered_methods() -> List[str]:
    """The rows whose step is registered, in table order."""
    return [name for name, kind in METHOD_TYPES.items() if MODELS.get(kind) is not None]


def purified_name(method: str, evidence: str) -> str:
    """The variant of ``method`` with the purifier reading ``evidence``."""
    return f'{PURIFIED_PREFIX.get(method, method)}_{evidence}'


def parse_variant(name: str) -> Tuple[str, Optional[str]]:
    """``(method, evidence)`` of a variant name (evidence None: no purifier;
    method ``'supervised'`` for the supervised one); an unknown name is a
    ValueError."""
    if name == 'supervised' or name in METHOD_TYPES:
        return name, None
    for method in METHOD_TYPES:
        for evidence in evidence_sources(method):
            if name == purified_name(method, evidence):
                return method, evidence
    raise ValueError(f'unknown benchmark variant {name!r}')


def method_variants(purifier: bool) -> List[str]:
    """Every registered method's variants: plain, and with a purifier each
    with cached evidence (FixMatch's: online, cached and auto)."""
    names = registered_methods()
    if not purifier:
        return names
    out = list(names)
    for method in names:
        out += [purified_name(method, e) for e in evidence_sources(method)]
    return out


def all_variant_names() -> Tuple[str, ...]:
    """Every name ``--variants`` accepts (whether registered or not)."""
    names = ['supervised', *METHOD_TYPES]
    for method in METHOD_TYPES:
        names += [purified_name(method, e) for e in evidence_sources(method)]
    return tuple(names)


def semi_method_cfg(method: str) -> dict:
    """``model.semi_method`` of a method's variants: its registered step
    with the class's defaults (the anchor's settings)."""
    return dict(type=METHOD_TYPES[method])


def branches_of(names) -> Tuple[str, ...]:
    """The batch branches the variants ``names`` read together (each
    method's ``branches``, read from an instance: a method may set them
    from its arguments), in first-seen order."""
    out = []
    for name in names:
        method, _ = parse_variant(name)
        if method == 'supervised':
            continue
        for b in MODELS.build(semi_method_cfg(method)).branches:
            if b not in out:
                out.append(b)
    return tuple(out)
