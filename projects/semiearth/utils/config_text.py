"""The one writer of MMEngine config files as Python source.

Generated configs (the wrap tool, the mmseg-protocol leaves, exported models)
are written as ``_base_`` plus top-level assignments, each value as config
source: dicts as ``dict(k=v)`` with ``type`` first, what does not fit on a line
broken into one item a line."""
import textwrap
from typing import Any, Mapping, Optional, Sequence

WIDTH = 88


def _is_ident(key) -> bool:
    return isinstance(key, str) and key.isidentifier()


def _ordered(value: Mapping) -> list:
    # ``type`` first, as configs are read; the rest in insertion order
    return sorted(value, key=lambda k: k != 'type')


def _one_line(value: Any) -> str:
    if isinstance(value, Mapping):
        keys = _ordered(value)
        if all(_is_ident(k) for k in keys):
            return 'dict(' + ', '.join(f'{k}={_one_line(value[k])}' for k in keys) + ')'
        return '{' + ', '.join(f'{k!r}: {_one_line(value[k])}' for k in keys) + '}'
    if isinstance(value, list):
        return '[' + ', '.join(_one_line(v) for v in value) + ']'
    if isinstance(value, tuple):
        inner = ', '.join(_one_line(v) for v in value)
        return f'({inner},)' if len(value) == 1 else f'({inner})'
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    raise TypeError(f'cannot write {value!r} ({type(value).__name__}) into a config: '
                    'only dicts, lists, tuples, str, numbers, bools and None')


def format_value(value: Any, indent: int = 0, col: Optional[int] = None,
                 width: int = WIDTH) -> str:
    """``value`` as config source starting at column ``col`` (default
    ``indent``) of a line indented by ``indent``; what does not fit in
    ``width`` is broken into one item a line, indented 4 more."""
    one = _one_line(value)
    if (indent if col is None else col) + len(one) <= width:
        return one
    ind = indent + 4
    pad = ' ' * ind
    if isinstance(value, Mapping):
        keys = _ordered(value)
        if all(_is_ident(k) for k in keys):
            items = [f'{pad}{k}={format_value(value[k], ind, ind + len(k) + 1, width)}'
                     for k in keys]
            return 'dict(\n' + ',\n'.join(items) + ')'
        items = [f'{pad}{k!r}: {format_value(value[k], ind, ind + len(repr(k)) + 2, width)}'
                 for k in keys]
        return '{\n' + ',\n'.join(items) + '}'
    if isinstance(value, (list, tuple)):
        open_, close = ('[', ']') if isinstance(value, list) else ('(', ')')
        items = [f'{pad}{format_value(v, ind, ind, width)}' for v in value]
        tail = ',' if isinstance(value, tuple) and len(value) == 1 else ''
        return open_ + '\n' + ',\n'.join(items) + tail + close
    return one


def comment(text: str, width: int = WIDTH) -> str:
    """``text`` as ``#`` comment lines."""
    return '\n'.join('# ' + line for line in textwrap.wrap(text, width - 2)) + '\n'


def config_text(assignments: Mapping[str, Any], base: Sequence[str] = (),
                header: str = '') -> str:
    """A config file: ``header`` as comments, ``_base_ = [...]`` when
    ``base`` is given, then one ``key = value`` per assignment."""
    out = comment(header) if header else ''
    if base:
        out += f'_base_ = {format_value(list(base), 0, len("_base_ = "))}\n'
    for key, value in assignments.items():
        if not _is_ident(key):
            raise ValueError(f'{key!r} is not a valid config variable name')
        out += f'{key} = {format_value(value, 0, len(key) + 3)}\n'
    return out
