"""Channel decomposition (Zhang, Zou, He & Sun 2015, "Accelerating Very Deep Convolutional Networks for
Classification and Detection", arXiv:1505.06798, Sec. 3): a k x k conv C -> N as a k x k conv C -> R
followed by a 1 x 1 conv R -> N.

    W[o, (i, a, b)] ~= A[o, r] B[r, (i, a, b)]   (truncated SVD of the (N, C k^2) matrix)
    x -> conv_k(B: C -> R, the conv's stride and padding) -> conv_1x1(A: R -> N, + bias)

Departure: the paper fits the factors to *responses* on training data (its asymmetric, nonlinear
solver); here they come from the weight alone (its Sec. 3.1 starting point), which is exact at
R = min(N, C k^2) and the best rank-R weight in Frobenius norm (Eckart-Young) below it; fine-tuning
closes the rest. Works for 1D, 2D and 3D convs alike.
Shape: (N, C, *S) -> (N, R, *S') -> (N, N_out, *S').
"""
from __future__ import annotations

from math import prod

import numpy as np
from torch import nn

from ._conv import copy_bias, dims_of, new_conv, set_weight, squared_singular_values, stage_macs, truncated_svd
from .method import Method


def _matrix(w: np.ndarray) -> np.ndarray:
    return w.reshape(w.shape[0], -1)


def factors(w: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """(A (N, R), B (R, C, *k)): the rank-R channel factors of a (N, C, *k) weight."""
    a, b = truncated_svd(_matrix(w), rank)
    return a, b.reshape((b.shape[0],) + w.shape[1:])


def reconstruct(f: tuple) -> np.ndarray:
    a, b = f
    return np.einsum("or,r...->o...", a, b, optimize=True)


def build(conv: nn.Module, f: tuple) -> nn.Module:
    a, b = f
    dims, r = dims_of(conv), b.shape[0]
    first = new_conv(dims, conv.in_channels, r, conv.kernel_size, conv.stride, conv.padding, conv.dilation)
    second = new_conv(dims, r, conv.out_channels, 1, bias=conv.bias is not None)
    set_weight(first, b)
    set_weight(second, a)
    copy_bias(second, conv)
    return nn.Sequential(first, second)


def macs(conv: nn.Module, rank: int, in_sp: tuple, out_sp: tuple) -> int:
    return (stage_macs(conv.in_channels, rank, 1, conv.kernel_size, out_sp)
            + stage_macs(rank, conv.out_channels, 1, (1,), out_sp))


def _skip(conv: nn.Module):
    return None if conv.groups == 1 else f"grouped conv (groups={conv.groups}): channel needs groups=1"


METHOD = Method(
    name="channel", paper="Zhang et al. 2015, arXiv:1505.06798", skip=_skip,
    full_rank=lambda shape: min(shape[0], prod(shape[1:])),
    spectra=lambda w: [squared_singular_values(_matrix(w))],
    factor=factors, reconstruct=reconstruct, build=build, macs=macs)
