"""What the course's short-answer exercises are judged by: every quantity is computed by convzoo's own
arithmetic or by building the layer and counting, never compared with a typed-in number.
Used by :mod:`convzoo.course` (which turns an answer into a number or tuple before it gets here).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np


def params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def disk(radius: int = 3) -> np.ndarray:
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return (yy ** 2 + xx ** 2 <= radius ** 2 + 0.5).astype(float)


def _decimals(a: float) -> int:
    """Decimal places as the number was written: 0.11 -> 2, 7.1 -> 1, 10.0 -> 0."""
    text = repr(float(a))
    if "e" in text or "." not in text:
        return 0
    return len(text.split(".")[1].rstrip("0"))


def _significant(a: float) -> int:
    digits = f"{abs(float(a)):.{_decimals(a)}f}".replace(".", "").lstrip("0")
    return len(digits)


def close(target_fn: Callable[[], float], rel: float, digits: int = 2) -> Callable[[Any], bool]:
    """Right when within ``rel`` of the target, or when it is the target rounded to the decimals the
    student wrote with at least ``digits`` significant digits ("to two significant digits": 0.11 for
    0.1131, 6.0 for 5.998)."""
    def judge(a) -> bool:
        if isinstance(a, bool) or not isinstance(a, (int, float)):
            return False
        target = target_fn()
        if math.isclose(float(a), target, rel_tol=rel):
            return True
        places = _decimals(a)
        return _significant(a) >= digits and math.isclose(round(target, places), float(a), rel_tol=1e-9)
    return judge


def equals(target_fn: Callable[[], Any]) -> Callable[[Any], bool]:
    return lambda a: plain(a) == plain(target_fn())


def plain(v):
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        return tuple(plain(x) for x in v)
    if isinstance(v, bool):
        return ("bool", v)            # True is not the count 1, nor 1 the boolean True
    return v


def sobel_y_factors(a) -> bool:
    sobel_y = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=float)
    try:
        col, row = (np.asarray(x, dtype=float).ravel() for x in a)
    except (TypeError, ValueError):
        return False
    return col.shape == row.shape == (3,) and np.allclose(np.outer(col, row), sobel_y)


def keeps_37(a) -> bool:
    from .analysis import conv_output_size
    try:
        s, p = a
        return conv_output_size(37, 3, s=s, p=p, d=2) == 37
    except (TypeError, ValueError):
        return False


def two_pair_kernel() -> np.ndarray:
    """The spatially separable notebook's kernel: a sum of two column-times-row pairs."""
    return np.outer([1, 2, 1], [1, 0, -1]) + np.outer([1, 0, -1], [1, 1, 1])


def spatial_params() -> int:
    from .layers import SpatiallySeparableConv
    return params(SpatiallySeparableConv(64, 64, 5, rank=16, bias=False))


def dw_saved() -> int:
    from .analysis import profile
    from .layers import DepthwiseSeparableConv, make_conv
    std = profile(make_conv(256, 256, 3, bias=False), (256, 28, 28)).macs
    ds = profile(DepthwiseSeparableConv(256, 256, 3, norm=None, act_layer=None, bias=False), (256, 28, 28)).macs
    return std - ds


def mbconv_params() -> int:
    from .blocks import MBConv
    return params(MBConv(24, 24, expand_ratio=6, kernel_size=3))


def mbconv_residual():
    from .blocks import MBConv
    return tuple(MBConv(i, o, stride=s).use_residual for i, o, s in ((24, 24, 1), (24, 32, 1), (32, 32, 2)))


def convnext_params() -> int:
    from .blocks import ConvNeXtBlock
    return params(ConvNeXtBlock(96))


def convnext_dw_share() -> float:
    from .analysis import profile
    from .blocks import ConvNeXtBlock
    block = ConvNeXtBlock(96)
    total = profile(block, (96, 56, 56)).macs
    dw = profile(block.dwconv, (96, 56, 56)).macs
    return dw / total


def resolution(name: str) -> int:
    from .registry import get_pretrained_cfg_value
    return int(get_pretrained_cfg_value(name, "input_size")[-1])


def compound_macs(phi: int) -> float:
    from .scaling.law import compound
    return compound(phi).predicted_macs_ratio


def rf(layers):
    from .analysis import receptive_field
    return receptive_field(layers)[-1].receptive_field


def out(i, k, s=1, p=0, d=1):
    from .analysis import conv_output_size
    return conv_output_size(i, k, s=s, p=p, d=d)


def out_t(i, k, s=1, p=0):
    from .analysis import conv_transpose_output_size
    return conv_transpose_output_size(i, k, s=s, p=p)


def one_filter_per_channel(a) -> bool:
    """groups=a on a 32 -> 32 conv gives each output channel one input channel (weight 32x1x3x3)."""
    from torch import nn
    if isinstance(a, bool) or not isinstance(a, int):
        return False
    try:
        return tuple(nn.Conv2d(32, 32, 3, groups=a).weight.shape) == (32, 1, 3, 3)
    except (TypeError, ValueError, RuntimeError):
        return False


def transposed_macs() -> int:
    from torch import nn

    from .analysis import profile
    return profile(nn.ConvTranspose2d(8, 4, 3, stride=2, bias=False), (8, 5, 5)).macs


def output_padding(a) -> bool:
    from .analysis import conv_transpose_output_size
    if isinstance(a, bool) or not isinstance(a, int):
        return False
    try:
        return conv_transpose_output_size(7, 3, s=2, p=1, output_padding=a) == 14
    except (TypeError, ValueError):
        return False


def midplanes() -> int:
    from .layers import midplanes as _midplanes
    return _midplanes(3, 64, t=3, d=3)


def conv3d_params() -> int:
    from .layers import make_conv
    return params(make_conv(3, 64, 3, dims=3, bias=False))
