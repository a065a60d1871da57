"""channels_last for inference: which layout a tensor of each rank gets, and the input side of it."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

_FORMATS = {2: torch.channels_last, 3: torch.channels_last_3d}     # by a model's spatial dims
_BY_RANK = {4: torch.channels_last, 5: torch.channels_last_3d}     # by a tensor's rank


def memory_format_for(model: nn.Module) -> Optional[torch.memory_format]:
    """channels_last for 2D models, channels_last_3d for 3D, None for 1D (no such layout)."""
    return _FORMATS.get(getattr(model, "dims", 2))


def to_channels_last(x):
    """A 4D tensor in channels_last, a 5D one in channels_last_3d, anything else as it is."""
    fmt = _BY_RANK.get(x.dim()) if isinstance(x, torch.Tensor) else None
    return x.contiguous(memory_format=fmt) if fmt is not None else x


def input_to_channels_last(module, args):
    """A forward pre-hook: the first input in channels_last (by its rank)."""
    return (to_channels_last(args[0]), *args[1:]) if args else None


class FormatInput(nn.Module):
    """``model(channels_last(x))``: the layout change inside the compiled graph (a forward pre-hook
    would be traced as a second graph with its own guard check on every call)."""

    def __init__(self, model: nn.Module, channels_last: bool):
        super().__init__()
        self.model, self.channels_last = model, channels_last

    def forward(self, x, *args, **kwargs):
        return self.model(to_channels_last(x) if self.channels_last else x, *args, **kwargs)
