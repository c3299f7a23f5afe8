"""Command-line helpers shared by the tools."""
import logging
import os
import sys

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


def end_distributed_run() -> None:
    """End a process of a finished multi-process run: shut down the process
    group, flush the logs, and leave without interpreter finalisation.

    Call it after ``runner.train()`` or ``runner.test()`` returned, in the
    tool's ``__main__`` block; never after an exception (destroying the group
    while another rank still waits in a collective can hang). Without
    distribution, or with one process, it only destroys the group.

    Why not a plain exit: gloo's worker threads (``pt_gloo_runloop``) drop
    the last reference to a collective's tensors after the caller has moved
    on, and that decref takes the GIL. If it lands in ``Py_FinalizeEx`` the
    thread is terminated inside C++ code and the process aborts ("terminate
    called without an active exception", SIGABRT; pytorch/pytorch#117762),
    so ``dist_train.sh`` failed after a finished run (5 of 12 two-process
    gloo runs of DDP steps and ``all_gather_object``, 0 of 32 with this
    call; 2 of 8 with ``destroy_process_group`` alone, which does not stop
    the threads while DDP still holds the group). Everything a run
    keeps is on disk by then; the logs are flushed here.
    """
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return
    several = dist.get_world_size() > 1
    dist.destroy_process_group()
    if several:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
