"""CP decomposition (Lebedev, Ganin, Rakhuba, Oseledets & Lempitsky 2015, "Speeding-up Convolutional
Neural Networks Using Fine-tuned CP-Decomposition", arXiv:1412.6553, Sec. 3): the kernel as a sum of R
rank-one tensors, i.e. a pointwise conv, one depthwise 1D conv per axis, and a pointwise conv.

    W[o, i, a, b] ~= sum_r U_out[o, r] U_in[i, r] K_h[a, r] K_w[b, r]
    x -> conv 1x1 (U_in^T: C -> R) -> depthwise k x 1 (K_h) -> depthwise 1 x k (K_w) -> conv 1x1 (U_out: R -> N, + bias)

(one depthwise conv per spatial axis: one in 1D, three in 3D). Below the full rank the factors come
from TensorLy's ``parafac`` (alternating least squares, SVD start; the paper uses non-linear least
squares). A CP rank has no Eckart-Young guarantee, and the exact rank of a tensor is not computable in
general; at the *full rank* ``R = min(C, N) * prod(k)`` this module writes the trivial exact CP (one
rank-one term per input channel and kernel position, the weight's own values in the output factor), so
the layer is reproduced exactly. ``energy`` picks R from the (N, C k^2) unfolding's singular values, each spread over
prod(k) rank slots (a heuristic, see ``_spectrum``; fine-tuning is expected).
Shape: (N, C, *S) -> (N, R, *S) -> ... -> (N, R, *S') -> (N, N_out, *S').
"""
from __future__ import annotations

import itertools
import warnings
from math import prod

import numpy as np
from torch import nn

from .._extras import require
from ._conv import (copy_bias, dims_of, int_padding, mixed_spatial, new_conv, on_axis, set_weight,
                    squared_singular_values, stage_macs)
from .method import Method

ALS_ITERATIONS = 200


def full_rank(shape: tuple) -> int:
    return min(shape[0], shape[1]) * prod(shape[2:])


def _exact(w: np.ndarray) -> list[np.ndarray]:
    """The trivial exact CP: one term per (channel, kernel position) of the smaller channel side."""
    o, i, *k = w.shape
    small = 1 if i <= o else 0                                   # the mode that gets one-hot columns
    positions = list(itertools.product(range(w.shape[small]), *[range(n) for n in k]))
    fac = [np.zeros((n, len(positions))) for n in w.shape]
    for r, (c, *ks) in enumerate(positions):
        fac[small][c, r] = 1.0
        for axis, a in enumerate(ks):
            fac[2 + axis][a, r] = 1.0
        idx = (slice(None), c, *ks) if small == 1 else (c, slice(None), *ks)
        fac[1 - small][:, r] = w[idx]
    return fac


def factors(w: np.ndarray, rank: int, iters: int = ALS_ITERATIONS) -> tuple:
    """(U_out (N, R), U_in (C, R), K_axis (k_axis, R) for each axis), the norms spread evenly."""
    if rank >= full_rank(w.shape):
        return tuple(_exact(w))
    tl = require("tensorly", "compress", "the CP decomposition")
    from tensorly.decomposition import parafac
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # "n_eigenvecs larger than the mode": TensorLy pads, fine
        cp = parafac(tl.tensor(w), rank, n_iter_max=iters, init="svd", tol=1e-10, random_state=0)
    weights, fac = cp
    norms = [np.linalg.norm(f, axis=0) + 1e-30 for f in fac]
    scale = (np.abs(weights) * prod(norms)) ** (1.0 / len(fac))
    out = [f / n * scale for f, n in zip(fac, norms)]
    out[0] = out[0] * np.sign(weights)
    return tuple(out)


def reconstruct(f: tuple) -> np.ndarray:
    letters = "abcdefg"[:len(f) - 2]
    spec = ",".join(["or", "ir"] + [f"{c}r" for c in letters]) + "->oi" + letters
    return np.einsum(spec, *f, optimize=True)


def build(conv: nn.Module, f: tuple) -> nn.Module:
    u_out, u_in, *ks = f
    dims, r = dims_of(conv), u_out.shape[1]
    pad = int_padding(conv)
    stages = [new_conv(dims, conv.in_channels, r, 1)]
    set_weight(stages[0], u_in.T)
    for axis, k in enumerate(ks):
        dw = new_conv(dims, r, r, on_axis(conv.kernel_size, axis, 1), on_axis(conv.stride, axis, 1),
                      on_axis(pad, axis, 0), on_axis(conv.dilation, axis, 1), groups=r)
        set_weight(dw, k.T)
        stages.append(dw)
    last = new_conv(dims, r, conv.out_channels, 1, bias=conv.bias is not None)
    set_weight(last, u_out)
    copy_bias(last, conv)
    return nn.Sequential(*stages, last)


def macs(conv: nn.Module, rank: int, in_sp: tuple, out_sp: tuple) -> int:
    total = stage_macs(conv.in_channels, rank, 1, (1,), in_sp)
    for axis, k in enumerate(conv.kernel_size):
        total += stage_macs(rank, rank, rank, (k,), mixed_spatial(in_sp, out_sp, axis))
    return total + stage_macs(rank, conv.out_channels, 1, (1,), out_sp)


def _spectrum(w: np.ndarray) -> np.ndarray:
    """The (N, C k^2) unfolding's squared singular values, each spread over prod(k) rank slots, so the
    energy scale spans ranks 1 .. full rank (a heuristic: a CP term is rank one in every mode)."""
    k = prod(w.shape[2:])
    s = np.repeat(squared_singular_values(w.reshape(w.shape[0], -1)) / k, k)
    return s[:full_rank(w.shape)]


def _skip(conv: nn.Module):
    if conv.groups != 1:
        return f"grouped conv (groups={conv.groups}): cp needs groups=1"
    if prod(conv.kernel_size) == 1:
        return "1x1 kernel: its CP is a low-rank matrix (use channel)"
    if int_padding(conv) is None:
        return "even kernel with 'same' padding: no per-axis padding for the 1D depthwise convs"
    return None


METHOD = Method(
    name="cp", paper="Lebedev et al. 2015, arXiv:1412.6553", skip=_skip, full_rank=full_rank,
    spectra=lambda w: [_spectrum(w)],
    factor=factors, reconstruct=reconstruct, build=build, macs=macs)
