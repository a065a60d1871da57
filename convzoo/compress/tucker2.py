"""Tucker-2 (Kim, Park, Yoo, Choi, Yang & Shin 2016, "Compression of Deep Convolutional Neural Networks
for Fast and Low Power Mobile Applications", arXiv:1511.06530, Sec. 2): the kernel's two channel modes
compressed, its spatial modes kept.

    W[o, i, *k] ~= sum_{s, t} G[t, s, *k] U_out[o, t] U_in[i, s]
    x -> conv 1x1 (U_in^T: C -> R_in) -> conv k (core G: R_in -> R_out, stride) -> conv 1x1 (U_out: R_out -> N, + bias)

Factors by HOSVD then a few HOOI sweeps (De Lathauwer et al. 2000); exact at (R_in, R_out) = (C, N).
Departure: the paper picks the ranks per layer with variational Bayesian matrix factorisation; here one
global target (rank, kept energy of each mode's unfolding, or a speed-up) sets them. A 1x1 conv is left
to ``channel`` (its Tucker-2 is three 1x1 convs).
Shape: (N, C, *S) -> (N, R_in, *S) -> (N, R_out, *S') -> (N, N_out, *S').
"""
from __future__ import annotations

from math import prod

import numpy as np
from torch import nn

from ._conv import copy_bias, dims_of, new_conv, set_weight, squared_singular_values, stage_macs
from .method import Method

HOOI_SWEEPS = 5


def _unfold(w: np.ndarray, mode: int) -> np.ndarray:
    return np.moveaxis(w, mode, 0).reshape(w.shape[mode], -1)


def _leading(m: np.ndarray, r: int) -> np.ndarray:
    """The ``r`` leading left singular vectors of a wide unfolding (C, rest): eigenvectors of m m^T."""
    w, v = np.linalg.eigh(m @ m.T)
    return v[:, ::-1][:, :r]


def factors(w: np.ndarray, rank) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(U_in (C, R_in), core (R_out, R_in, *k), U_out (N, R_out)) for ``rank = (R_in, R_out)``."""
    r_in, r_out = rank
    u_out, u_in = _leading(_unfold(w, 0), r_out), _leading(_unfold(w, 1), r_in)
    for _ in range(HOOI_SWEEPS if (r_in, r_out) != w.shape[1::-1] else 0):
        u_in = _leading(_unfold(np.einsum("oi...,or->ri...", w, u_out, optimize=True), 1), r_in)
        u_out = _leading(_unfold(np.einsum("oi...,is->os...", w, u_in, optimize=True), 0), r_out)
    core = np.einsum("oi...,or,is->rs...", w, u_out, u_in, optimize=True)
    return u_in, core, u_out


def reconstruct(f: tuple) -> np.ndarray:
    u_in, core, u_out = f
    return np.einsum("rs...,or,is->oi...", core, u_out, u_in, optimize=True)


def build(conv: nn.Module, f: tuple) -> nn.Module:
    u_in, core, u_out = f
    dims, (r_out, r_in) = dims_of(conv), core.shape[:2]
    first = new_conv(dims, conv.in_channels, r_in, 1)
    mid = new_conv(dims, r_in, r_out, conv.kernel_size, conv.stride, conv.padding, conv.dilation)
    last = new_conv(dims, r_out, conv.out_channels, 1, bias=conv.bias is not None)
    set_weight(first, u_in.T)
    set_weight(mid, core)
    set_weight(last, u_out)
    copy_bias(last, conv)
    return nn.Sequential(first, mid, last)


def macs(conv: nn.Module, rank, in_sp: tuple, out_sp: tuple) -> int:
    r_in, r_out = rank
    return (stage_macs(conv.in_channels, r_in, 1, (1,), in_sp)
            + stage_macs(r_in, r_out, 1, conv.kernel_size, out_sp)
            + stage_macs(r_out, conv.out_channels, 1, (1,), out_sp))


def _skip(conv: nn.Module):
    if conv.groups != 1:
        return f"grouped conv (groups={conv.groups}): tucker2 needs groups=1"
    if prod(conv.kernel_size) == 1:
        return "1x1 kernel: its Tucker-2 is three 1x1 convs (use channel)"
    return None


METHOD = Method(
    name="tucker2", paper="Kim et al. 2016, arXiv:1511.06530", skip=_skip,
    full_rank=lambda shape: (shape[1], shape[0]),
    spectra=lambda w: [squared_singular_values(_unfold(w, 1)), squared_singular_values(_unfold(w, 0))],
    factor=factors, reconstruct=reconstruct, build=build, macs=macs)
