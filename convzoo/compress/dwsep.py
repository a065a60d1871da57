"""Network decoupling (Guo, Li, Zhang, Zhou & Tao 2018, "Network Decoupling: From Regular to Depthwise
Separable Convolutions", BMVC, arXiv:1808.05517, Sec. 3): a regular k x k conv as a sum of R
depthwise-separable convs, i.e. the lecture's depthwise then pointwise picture, R times over.

    W[o, i, *k] = sum_r P_r[o, i] D_r[i, *k]   (per input channel i: SVD of the (N, k^2) slice W[:, i])
    x -> depthwise k (C -> C R, groups=C, channel i r + j = D_j[i]) -> pointwise 1x1 (C R -> N, + bias)

One depthwise conv with channel multiplier R and one pointwise conv compute the sum of the R
pointwise_r o depthwise_r pairs exactly. Exact at R = min(N, prod(k)); below it each channel's slice
is its best rank-R approximation, so the weight error is the Eckart-Young tail summed over channels.
Works for 1D, 2D and 3D kernels. Shape: (N, C, *S) -> (N, C R, *S') -> (N, N_out, *S').
"""
from __future__ import annotations

from math import prod

import numpy as np
from torch import nn

from ._conv import copy_bias, dims_of, new_conv, set_weight, stage_macs
from .method import Method


def _slices(w: np.ndarray) -> np.ndarray:
    """(C, N, prod(k)): one matrix per input channel."""
    return w.reshape(w.shape[0], w.shape[1], -1).transpose(1, 0, 2)


def factors(w: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """(depthwise (C, R, *k), pointwise (N, C, R))."""
    u, s, vt = np.linalg.svd(_slices(w), full_matrices=False)   # (C, N, m), (C, m), (C, m, K)
    root = np.sqrt(s[:, :rank])
    depth = (root[:, :, None] * vt[:, :rank]).reshape((w.shape[1], root.shape[1]) + w.shape[2:])
    point = (u[:, :, :rank] * root[:, None, :]).transpose(1, 0, 2)
    return depth, point


def reconstruct(f: tuple) -> np.ndarray:
    depth, point = f
    return np.einsum("oir,ir...->oi...", point, depth, optimize=True)


def build(conv: nn.Module, f: tuple) -> nn.Module:
    depth, point = f
    dims, (c, r) = dims_of(conv), depth.shape[:2]
    dw = new_conv(dims, c, c * r, conv.kernel_size, conv.stride, conv.padding, conv.dilation, groups=c)
    pw = new_conv(dims, c * r, conv.out_channels, 1, bias=conv.bias is not None)
    set_weight(dw, depth)
    set_weight(pw, point.reshape(point.shape[0], c * r))
    copy_bias(pw, conv)
    return nn.Sequential(dw, pw)


def macs(conv: nn.Module, rank: int, in_sp: tuple, out_sp: tuple) -> int:
    c = conv.in_channels
    return stage_macs(c, c * rank, c, conv.kernel_size, out_sp) + stage_macs(c * rank, conv.out_channels, 1, (1,),
                                                                            out_sp)


def _spectra(w: np.ndarray) -> list:
    s = np.linalg.svd(_slices(w), compute_uv=False)            # (C, m): per channel, largest first
    return [(s ** 2).sum(axis=0)]


def _skip(conv: nn.Module):
    if conv.groups != 1:
        return f"grouped conv (groups={conv.groups}): dwsep needs groups=1 (it makes a depthwise conv)"
    if prod(conv.kernel_size) == 1:
        return "1x1 kernel: already pointwise"
    return None


METHOD = Method(
    name="dwsep", paper="Guo et al. 2018, arXiv:1808.05517", skip=_skip,
    full_rank=lambda shape: min(shape[0], prod(shape[2:])), spectra=_spectra,
    factor=factors, reconstruct=reconstruct, build=build, macs=macs)
