"""Padding helpers shared by every layer, and the conv classes by ``dims``.

Two padding conventions matter in practice:

* PyTorch "same" (our default): symmetric ``(k - 1) // 2 * dilation`` on every side, so an odd kernel
  at stride 1 keeps the size and at stride ``s`` gives ``ceil(i / s)``.
* TensorFlow "SAME" (``padding="tf_same"``): total padding ``max((ceil(i/s) - 1) * s + d(k-1) + 1 - i, 0)``
  split with the extra pixel on the *right/bottom*. Weights ported from TensorFlow (timm's ``tf_*``
  models) need it to give identical outputs.
"""
from __future__ import annotations

import math
from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_dims

IntOrTuple = Union[int, Sequence[int]]

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def to_tuple(value: IntOrTuple, dims: int, name: str = "value") -> tuple[int, ...]:
    """Broadcast an int to a ``dims``-tuple, or check a sequence has ``dims`` entries."""
    if isinstance(value, int):
        return (value,) * dims
    value = tuple(int(v) for v in value)
    if len(value) != dims:
        raise ValueError(f"{name} must be an int or a sequence of {dims} ints, got {value!r}")
    return value


def conv_class(dims: int) -> type[nn.Module]:
    return _CONV[check_dims(dims)]


def conv_transpose_class(dims: int) -> type[nn.Module]:
    return _CONV_T[check_dims(dims)]


def same_padding(kernel_size: IntOrTuple, stride: IntOrTuple = 1, dilation: IntOrTuple = 1,
                 dims: int = 2) -> tuple[int, ...]:
    """Symmetric "same" padding ``(k - 1) // 2 * d`` per axis.

    Defined for odd kernels at any stride and dilation. An even kernel cannot be padded symmetrically
    to keep the size; at stride 1 PyTorch's own ``padding="same"`` handles it (asymmetrically), at
    stride > 1 it is ambiguous, so we refuse it.
    """
    k = to_tuple(kernel_size, dims, "kernel_size")
    s = to_tuple(stride, dims, "stride")
    d = to_tuple(dilation, dims, "dilation")
    for ki, si in zip(k, s):
        if ki % 2 == 0 and si > 1:
            raise ValueError(
                f'padding="same" needs an odd kernel when stride > 1: got kernel_size={k}, stride={s}; '
                'use an odd kernel, an explicit integer padding, or padding="tf_same"')
    return tuple((ki - 1) // 2 * di for ki, di in zip(k, d))


def tf_same_pad_amounts(input_size: Sequence[int], kernel_size: Sequence[int], stride: Sequence[int],
                        dilation: Sequence[int]) -> list[int]:
    """``F.pad`` argument (last axis first) for TensorFlow "SAME": extra pixel goes right/bottom."""
    pads: list[int] = []
    for i, k, s, d in zip(reversed(input_size), reversed(kernel_size), reversed(stride), reversed(dilation)):
        total = max((math.ceil(i / s) - 1) * s + (k - 1) * d + 1 - i, 0)
        pads += [total // 2, total - total // 2]
    return pads


class TFSamePad(nn.Module):
    """Zero-pad as TensorFlow's "SAME" does, from the input's size at run time.

    Used in front of a conv with ``padding=0`` when ``padding="tf_same"``.
    """

    def __init__(self, kernel_size, stride, dilation, dims: int = 2):
        super().__init__()
        self.kernel_size = to_tuple(kernel_size, dims, "kernel_size")
        self.stride = to_tuple(stride, dims, "stride")
        self.dilation = to_tuple(dilation, dims, "dilation")
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = tf_same_pad_amounts(x.shape[-self.dims:], self.kernel_size, self.stride, self.dilation)
        if any(pads):
            x = F.pad(x, pads)
        return x

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, dilation={self.dilation}"
