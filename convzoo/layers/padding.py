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
from typing import List, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_dims

IntOrTuple = Union[int, Sequence[int]]

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def to_tuple(value: IntOrTuple, dims: int, name: str = "value") -> tuple[int, ...]:
    """Broadcast an int to a ``dims``-tuple, or check a sequence has ``dims`` entries."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * dims
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{name} must be an int or a sequence of {dims} ints, got {value!r}")
    value = tuple(value)
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


def _tf_same_pads(x: torch.Tensor, span: List[int], stride: List[int], clamp: List[bool]) -> List[int]:
    """:func:`tf_same_pad_amounts` from ``x``'s trailing sizes, in integer ops only (``+ - * // %``), so
    torch.fx, TorchScript, torch.export and dynamo all record it (no ``math.ceil``, no ``max``).

    With ``m = ceil(i / s) * s - i = (s - i % s) % s`` the total is ``span - s + m``; it can be negative
    only when the kernel span is shorter than the stride (``clamp``), where
    ``max(a, 0) = a * ((m + span) // s)`` since ``(m + span) // s`` is 1 exactly when ``a >= 0``.
    """
    pads: List[int] = []
    n = len(span)
    for j in range(n):
        axis = n - 1 - j                                   # F.pad lists the last axis first
        s = stride[axis]
        m = (s - x.shape[axis - n] % s) % s
        total = span[axis] - s + m
        if clamp[axis]:
            total = total * ((m + span[axis]) // s)
        pads.append(total // 2)
        pads.append(total - total // 2)
    return pads


class _SameMixin:
    """TensorFlow "SAME" padding computed from the input's size at run time, for a conv built with
    ``padding=0``: timm's ``Conv2dSame`` idea, so state-dict keys are the plain conv's."""

    def _init_same(self) -> None:
        # a mixin of an nn.ConvNd: kernel_size, stride, dilation, weight, bias come from the conv
        self.span = [(k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation)]  # type: ignore[attr-defined]
        self.clamp = [e < s for e, s in zip(self.span, self.stride)]  # type: ignore[attr-defined]
        self.strides = list(self.stride)  # type: ignore[attr-defined]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, _tf_same_pads(x, self.span, self.strides, self.clamp))
        return self._conv_forward(x, self.weight, self.bias)  # type: ignore[attr-defined]

    def extra_repr(self) -> str:
        return super().extra_repr() + ", padding=tf_same"  # type: ignore[misc]


class Conv1dSame(_SameMixin, nn.Conv1d):
    """``nn.Conv1d`` with TensorFlow "SAME" padding (extra pixel on the right). Shape: (N, C, L) ->
    (N, C', ceil(L / s))."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_same()


class Conv2dSame(_SameMixin, nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "SAME" padding (extra pixel right/bottom). Shape: (N, C, H, W) ->
    (N, C', ceil(H / s), ceil(W / s))."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_same()


class Conv3dSame(_SameMixin, nn.Conv3d):
    """``nn.Conv3d`` with TensorFlow "SAME" padding. Shape: (N, C, T, H, W) -> (N, C', *ceil(S / s))."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_same()


_CONV_SAME = {1: Conv1dSame, 2: Conv2dSame, 3: Conv3dSame}
TF_SAME_CONVS = (Conv1dSame, Conv2dSame, Conv3dSame)


def conv_same_class(dims: int) -> type[nn.Module]:
    return _CONV_SAME[check_dims(dims)]
