"""Argument and input checks shared by every layer: what a user gets instead of a PyTorch traceback."""
from __future__ import annotations

import torch
from torch import nn


def check_dims(dims: int) -> int:
    if dims not in (1, 2, 3):
        raise ValueError(f"dims must be 1, 2 or 3, got {dims!r}")
    return dims


def check_input(module: nn.Module, x: torch.Tensor, in_channels: int, dims: int) -> None:
    """Raise a clear error when ``x`` is not an (N, C, *spatial) batch with ``in_channels`` channels."""
    if x.dim() != dims + 2:
        axes = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, T, H, W)"}[dims]
        raise ValueError(f"{type(module).__name__} expected a {dims + 2}-D input {axes}, "
                         f"got shape {tuple(x.shape)}")
    if x.shape[1] != in_channels:
        raise ValueError(f"{type(module).__name__} expected {in_channels} input channels, "
                         f"got {x.shape[1]} (input shape {tuple(x.shape)})")


def check_groups(in_channels: int, out_channels: int, groups: int) -> None:
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    if in_channels % groups:
        raise ValueError(f"groups={groups} does not divide in_channels={in_channels}")
    if out_channels % groups:
        raise ValueError(f"groups={groups} does not divide out_channels={out_channels}")
