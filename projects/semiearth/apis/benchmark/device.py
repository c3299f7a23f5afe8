"""The device helpers of the step benchmark: synchronise, name, free."""
import gc
import platform

import torch


def is_cuda(device) -> bool:
    return str(device).startswith('cuda')


def sync(device) -> None:
    """Wait for the device's queued work (CUDA), so that a clock reads it."""
    if is_cuda(device):
        torch.cuda.synchronize(device)


def device_name(device) -> str:
    """The GPU's name, else the CPU's model name."""
    if is_cuda(device):
        return torch.cuda.get_device_name(torch.device(device))
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or 'cpu'


def free_cuda() -> None:
    gc.collect()
    torch.cuda.empty_cache()
