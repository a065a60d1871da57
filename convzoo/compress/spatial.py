"""Spatial split (Jaderberg, Vedaldi & Zisserman 2014, "Speeding up Convolutional Neural Networks with
Low Rank Expansions", arXiv:1405.3866, scheme 2): the lecture's Sobel split, [1 2 1]^T [-1 0 1], made
a rank-R sum for a trained k x k conv C -> N; on 3D convs the (2+1)D split of R(2+1)D (Tran et al. 2018,
arXiv:1711.11248, Sec. 3.5), here as a factorisation of a trained C3D kernel.

    2D: W[o, i, a, b] ~= sum_r V[r, i, a] H[o, r, b]   (SVD of M[(i, a), (o, b)])
        x -> conv k x 1 (C -> R) -> conv 1 x k (R -> N, + bias)           (SpatiallySeparableConv)
    3D: W[o, i, t, a, b] ~= sum_r S[r, i, a, b] T[o, r, t]   (SVD of M[(i, a, b), (o, t)])
        x -> conv 1 x k x k (C -> R, spatial) -> conv k x 1 x 1 (R -> N, temporal, + bias)   (Conv2Plus1d)

Exact at R = min(C kh, N kw) (2D) / min(C kh kw, N kt) (3D), Eckart-Young optimal below. The 2D
factors are the same SVD as :meth:`~convzoo.layers.SpatiallySeparableConv.from_conv`'s (here through the
Gram matrix's eigendecomposition, :func:`._conv.svd`, several times faster on 512-channel kernels). The
(2+1)D module is :class:`~convzoo.layers.Conv2Plus1d` with no norm and no activation between its two
convs (a linear factorisation; R(2+1)D trains with BN + ReLU there). A 1D kernel is already one factor.
Shape: (N, C, *S) -> (N, R, *S_mixed) -> (N, N_out, *S').
"""
from __future__ import annotations

from math import prod

import numpy as np
from torch import nn

from ..layers.conv import chain_min_input
from ..layers.conv2plus1d import Conv2Plus1d
from ..layers.spatially_separable import SpatiallySeparableConv
from ._conv import (copy_bias, int_padding, mixed_spatial, new_conv, set_weight, squared_singular_values,
                    stage_macs, truncated_svd)
from .method import Method


def _matrix(w: np.ndarray) -> np.ndarray:
    o, i = w.shape[:2]
    if w.ndim == 4:                                              # M[(i, a), (o, b)]
        return w.transpose(1, 2, 0, 3).reshape(i * w.shape[2], o * w.shape[3])
    kt, kh, kw = w.shape[2:]                                     # M[(i, a, b), (o, t)]
    return w.transpose(1, 3, 4, 0, 2).reshape(i * kh * kw, o * kt)


def factors(w: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """2D: ((R, C, kh), (N, R, kw)); 3D: ((R, C, kh, kw), (N, R, kt))."""
    left, right = truncated_svd(_matrix(w), rank)                # (C kh [kw], R), (R, N kw | N kt)
    r, o, i, k = left.shape[1], w.shape[0], w.shape[1], w.shape[2:]
    if w.ndim == 4:
        return left.T.reshape(r, i, k[0]), right.reshape(r, o, k[1]).transpose(1, 0, 2)
    return left.T.reshape(r, i, k[1], k[2]), right.reshape(r, o, k[0]).transpose(1, 0, 2)


def reconstruct(f: tuple) -> np.ndarray:
    first, second = f
    if first.ndim == 3:
        return np.einsum("ria,orb->oiab", first, second, optimize=True)
    return np.einsum("riab,ort->oitab", first, second, optimize=True)


def build(conv: nn.Module, f: tuple) -> nn.Module:
    first, second = f
    r, bias = first.shape[0], conv.bias is not None
    if first.ndim == 3:
        mod = SpatiallySeparableConv(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                     conv.padding, conv.dilation, r, bias, dims=2)
        parts = [mod.conv_h, mod.conv_w]
    else:
        (st, sh, sw), (pt, ph, pw), (dt, dh, dw) = conv.stride, int_padding(conv), conv.dilation
        kt, kh, kw = conv.kernel_size
        mod = Conv2Plus1d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, (pt, ph, pw),
                          mid_channels=r, bias=False, norm=None, act_layer=None)
        # rebuilt to carry the conv's dilation and a bias on the last conv only (Conv2Plus1d has neither)
        mod.spatial = new_conv(3, conv.in_channels, r, (1, kh, kw), (1, sh, sw), (0, ph, pw), (1, dh, dw))
        mod.temporal = new_conv(3, r, conv.out_channels, (kt, 1, 1), (st, 1, 1), (pt, 0, 0), (dt, 1, 1), bias=bias)
        mod.min_input_size = chain_min_input([mod.spatial, mod.temporal])
        parts = [mod.spatial, mod.temporal]
    set_weight(parts[0], first)
    set_weight(parts[1], second)
    copy_bias(parts[1], conv)
    return mod


def macs(conv: nn.Module, rank: int, in_sp: tuple, out_sp: tuple) -> int:
    c, n, k = conv.in_channels, conv.out_channels, conv.kernel_size
    if len(k) == 2:
        return (stage_macs(c, rank, 1, (k[0],), mixed_spatial(in_sp, out_sp, 0))
                + stage_macs(rank, n, 1, (k[1],), out_sp))
    spatial_out = (in_sp[0],) + tuple(out_sp[1:])                # the spatial conv leaves time alone
    return stage_macs(c, rank, 1, k[1:], spatial_out) + stage_macs(rank, n, 1, (k[0],), out_sp)


def full_rank(shape: tuple) -> int:
    o, i, *k = shape
    if len(k) == 2:
        return min(i * k[0], o * k[1])
    return min(i * k[1] * k[2], o * k[0])


def _skip(conv: nn.Module):
    if len(conv.kernel_size) == 1:
        return "1D kernel: already one factor (spatial splits 2D and 3D kernels)"
    if conv.groups != 1:
        return f"grouped conv (groups={conv.groups}): spatial needs groups=1 (separable_dw splits depthwise)"
    if prod(conv.kernel_size) == 1:
        return "1x1 kernel: nothing to split"
    if len(conv.kernel_size) == 3 and int_padding(conv) is None:
        return "even kernel with 'same' padding: no per-axis padding for the (2+1)D split"
    return None


METHOD = Method(
    name="spatial", paper="Jaderberg et al. 2014, arXiv:1405.3866 (scheme 2); 3D: Tran et al. 2018, "
    "arXiv:1711.11248", skip=_skip, full_rank=full_rank,
    spectra=lambda w: [squared_singular_values(_matrix(w))],
    factor=factors, reconstruct=reconstruct, build=build, macs=macs)
