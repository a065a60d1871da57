"""Argument and input checks shared by every layer: what a user gets instead of a PyTorch traceback.

Input checks run once, where a user calls in, and only in eager mode:

* a module that is a child of another checked module stops checking (:class:`InputChecked` turns
  the flag off when the child is assigned), so a network's forward checks its input once and no
  block or layer inside it checks again;
* :func:`eager` is False under torch.fx (a ``Proxy``), ``torch.jit.trace``, dynamo and
  ``torch.export``, and every forward puts its check under ``if not torch.jit.is_scripting()``,
  which TorchScript does not compile, so none of them sees a check.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.fx
from torch import nn


def eager(x: Any) -> bool:
    """True when ``x`` is a real tensor in an eager call, not a value being traced or compiled."""
    return not (isinstance(x, torch.fx.Proxy) or torch.jit.is_tracing() or torch.compiler.is_compiling())


class InputChecked(nn.Module):
    """Mixin for modules that check their input: ``check_inputs`` is True for a module a user calls
    directly and False once the module sits inside another :class:`InputChecked` module, whose own
    check (and construction-time arguments) already vouch for what reaches it."""

    check_inputs = True

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, nn.Module):
            for m in value.modules():
                if isinstance(m, InputChecked):
                    m.__dict__["check_inputs"] = False
        super().__setattr__(name, value)

    def add_module(self, name: str, module: Any) -> None:
        if isinstance(module, nn.Module):
            for m in module.modules():
                if isinstance(m, InputChecked):
                    m.__dict__["check_inputs"] = False
        super().add_module(name, module)


def check_dims(dims: int) -> int:
    if isinstance(dims, bool) or dims not in (1, 2, 3):
        raise ValueError(f"dims must be 1, 2 or 3, got {dims!r}")
    return dims


def check_input(module: nn.Module, x: torch.Tensor, in_channels: int, dims: int,
                min_size: Sequence[int] | None = None) -> None:
    """Raise a clear error when ``x`` is not an (N, C, *spatial) batch with ``in_channels`` channels
    and at least ``min_size`` along each spatial axis."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{type(module).__name__} expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() != dims + 2:
        axes = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, T, H, W)"}[dims]
        raise ValueError(f"{type(module).__name__} expected a {dims + 2}-D input {axes}, "
                         f"got shape {tuple(x.shape)}")
    if x.shape[1] != in_channels:
        raise ValueError(f"{type(module).__name__} expected {in_channels} input channels, "
                         f"got {x.shape[1]} (input shape {tuple(x.shape)})")
    if min_size is not None and any(s < m for s, m in zip(x.shape[2:], min_size)):
        raise ValueError(f"{type(module).__name__} needs a spatial input size of at least "
                         f"{tuple(min_size)}, got {tuple(x.shape[2:])}")


def check_groups(in_channels: int, out_channels: int, groups: int) -> None:
    check_channels(in_channels=in_channels, out_channels=out_channels)
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be an int >= 1, got {groups!r}")
    if in_channels % groups:
        raise ValueError(f"groups={groups} does not divide in_channels={in_channels}")
    if out_channels % groups:
        raise ValueError(f"groups={groups} does not divide out_channels={out_channels}")


def check_channels(**widths: Any) -> None:
    """Each keyword is a channel count (or width) that must be an int >= 1."""
    for name, v in widths.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")


def check_positive(name: str, values: Sequence[int]) -> None:
    """Every entry of a per-axis tuple (kernel_size, stride, dilation) is an int >= 1."""
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise ValueError(f"{name} must be ints >= 1, got {tuple(values)}")


def min_conv_input(span: Sequence[int], stride: Sequence[int], pad_total: Sequence[int],
                   out_min: Sequence[int] | None = None) -> tuple[int, ...]:
    """Smallest input size per axis for which a conv gives at least ``out_min`` (default 1) outputs:
    ``floor((i + pad_total - span) / s) + 1 >= o``  <=>  ``i >= (o - 1) s + span - pad_total``."""
    out_min = out_min if out_min is not None else (1,) * len(span)
    return tuple(max(1, (o - 1) * s + e - p) for e, s, p, o in zip(span, stride, pad_total, out_min))
