"""Command-line helpers shared by the tools."""
from mmengine.config import DictAction


class CfgOptionsAction(DictAction):
    """MMEngine's ``--cfg-options`` parser, except that a single value keeps
    its spaces: ``data_root='data/my scenes'`` stays a path (MMEngine removes
    every space, making it ``data/myscenes``). Lists and tuples parse as in
    MMEngine."""

    @staticmethod
    def _parse_iterable(val: str):
        plain = val.strip('\'"')
        if not plain.startswith(('(', '[')) and ',' not in plain:
            return DictAction._parse_int_float_bool(plain)
        return DictAction._parse_iterable(val)
