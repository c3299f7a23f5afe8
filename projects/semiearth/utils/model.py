"""Model helpers shared by hooks, loops and tools."""
from mmengine.model import is_model_wrapper
from torch import nn


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model itself, out of a DDP / FSDP / MMEngine wrapper if it is in
    one (``model.module``)."""
    return model.module if is_model_wrapper(model) else model
