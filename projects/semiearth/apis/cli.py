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


def close_process_group() -> None:
    """Shut down the default process group, if any, after a run that ended
    well. Left to interpreter exit, gloo's worker threads can outlive it and
    abort the process ("terminate called without an active exception",
    SIGABRT; pytorch/pytorch#190489), so ``dist_train.sh`` could fail after
    a finished run. Not called after an exception: destroying the group while
    another rank still waits in a collective can hang (torchtitan#1342)."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
