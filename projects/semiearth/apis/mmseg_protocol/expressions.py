"""Names and derived dicts in a written config: what lets a generated leaf
inherit (``segmentor=_base_.model``) instead of copying its base's values."""
from typing import Any

from ...utils import format_value


class Ref(str):
    """A variable the config file defines or inherits (``_base_.model``,
    ``labeled_pipeline``), written as that name, not as a quoted string.

    :func:`semiearth.utils.format_value` writes a str by its ``repr``; a
    ``Ref``'s repr is the name, so the one config writer writes the reference
    and MMEngine resolves it when it reads the file (a ``_base_.x`` name is
    a variable of the file's bases)."""

    def __repr__(self) -> str:
        return str(self)


class Extend(Ref):
    """``dict(<base>, key=value, ...)``: the dict that ``base`` names with
    some keys replaced (MMEngine's way to derive from a base variable without
    copying it). ``indent`` is the indentation of the line the expression
    starts on; items that do not fit on one line go one a line below it."""

    def __new__(cls, base: str, indent: int = 0, **items: Any) -> 'Extend':
        one = ', '.join([base] + [f'{k}={format_value(v, width=10**6)}' for k, v in items.items()])
        if indent + len(one) + 20 <= 88:
            return super().__new__(cls, f'dict({one})')
        pad = ' ' * (indent + 4)
        lines = [f'{pad}{base}'] + [
            f'{pad}{k}={format_value(v, indent + 4, indent + 5 + len(k))}'
            for k, v in items.items()]
        return super().__new__(cls, 'dict(\n' + ',\n'.join(lines) + ')')
