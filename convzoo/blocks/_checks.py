"""Constructor checks the inverted-residual blocks share."""
from __future__ import annotations

from torch import nn

from ..layers.checks import check_channels
from ..layers.conv import residual_keeps_size


def check_block_args(block: str, in_channels: int, out_channels: int, expand_ratio: float,
                     se_ratio: float, drop_path: float) -> None:
    check_channels(in_channels=in_channels, out_channels=out_channels)
    if isinstance(expand_ratio, bool) or not isinstance(expand_ratio, (int, float)) or not expand_ratio > 0:
        raise ValueError(f"{block}: expand_ratio must be a number > 0, got {expand_ratio!r}")
    if not 0.0 <= se_ratio <= 1.0:
        raise ValueError(f"{block}: se_ratio must be in [0, 1], got {se_ratio!r}")
    if not 0.0 <= drop_path < 1.0:
        raise ValueError(f"{block}: drop_path must be in [0, 1), got {drop_path!r}")


def check_residual(block: nn.Module, conv: nn.Module) -> None:
    """A residual block's spatial conv must keep the size, or ``x + f(x)`` cannot be added."""
    if block.use_residual and not residual_keeps_size(conv):
        raise ValueError(
            f"{type(block).__name__}: a residual block (stride 1, in_channels == out_channels) needs "
            f"padding that keeps the size (\"same\", \"tf_same\" or (k - 1) * d / 2 per side), got "
            f"padding={conv.padding!r} with kernel_size={conv.kernel_size}, dilation={conv.dilation}")
