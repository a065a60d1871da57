"""CP decomposition (Lebedev, Ganin, Rakhuba, Oseledets & Lempitsky 2015, "Speeding-up Convolutional
Neural Networks Using Fine-tuned CP-Decomposition", arXiv:1412.6553, Sec. 3): the kernel as a sum of R
rank-one tensors, i.e. a pointwise conv, one depthwise 1D conv per axis, and a pointwise conv.

    W[o, i, a, b] ~= sum_r U_out[o, r] U_in[i, r] K_h[a, r] K_w[b, r]
    x -> conv 1x1 (U_in^T: C -> R) -> depthwise k x 1 (K_h) -> depthwise 1 x k (K_w) -> conv 1x1 (U_out: R -> N, + bias)

(one depthwise conv per spatial axis: one in 1D, three in 3D). The factors: a warm start from SVDs,
then alternating least squares (ALS, as TensorLy's ``parafac``; the paper uses non-linear least squares),
bounded so that a 512-channel layer takes seconds, not the 45 minutes an unbounded ALS at rank ~1000 did:

- warm start: per kernel position p, the SVD of the (N, C) slice W[:, :, p]; the R largest singular values
  over all positions are kept, each term one-hot on its position. That is the best rank-R CP whose
  spatial factors are one-hot (Eckart-Young per position), exact at the full rank R = min(C, N) prod(k),
  and ``energy`` ranks come from these singular values, so the kept energy is the warm start's;
- then at most ``ALS_SWEEPS`` ALS sweeps, stopped early when a sweep lowers the relative error by less
  than ``ALS_TOL``, or when ``ALS_SECONDS`` have passed on the layer; a sweep never makes the fit worse
  (each update is a least-squares solve), so the error is at most the warm start's.

A CP rank has no Eckart-Young guarantee, and the exact rank of a tensor is not computable in general;
fine-tuning is expected.
Shape: (N, C, *S) -> (N, R, *S) -> ... -> (N, R, *S') -> (N, N_out, *S').
"""
from __future__ import annotations

import time
from math import prod
from typing import Optional

import numpy as np
from torch import nn

from ._conv import (copy_bias, dims_of, int_padding, mixed_spatial, new_conv, on_axis, set_weight,
                    squared_singular_values, stage_macs, svd)
from .method import Method

ALS_SWEEPS = 100          # at most this many ALS sweeps after the warm start ...
ALS_TOL = 1e-5            # ... fewer when a sweep lowers the relative error by less than this ...
ALS_SECONDS = 3.0         # ... or when this many seconds have passed on the layer


def full_rank(shape: tuple) -> int:
    return min(shape[0], shape[1]) * prod(shape[2:])


def _position_svd(w: np.ndarray):
    """(U (P, N, m), s (P, m), Vt (P, m, C)): the SVD of every kernel position's (N, C) slice."""
    o, i, *k = w.shape
    parts = [svd(np.ascontiguousarray(w.reshape(o, i, -1)[:, :, p])) for p in range(prod(k))]
    return tuple(np.stack(x) for x in zip(*parts))


def warm_start(w: np.ndarray, rank: int) -> list[np.ndarray]:
    """The ``rank`` largest per-position singular triplets as CP terms, one-hot on their position:
    [U_out (N, R), U_in (C, R), K_axis (k_axis, R) ...]; exact at the full rank."""
    o, i, *k = w.shape
    u, s, vt = _position_svd(w)
    order = np.argsort(-s.ravel(), kind="stable")[:rank]
    pos, j = np.divmod(order, s.shape[1])
    root = np.sqrt(s[pos, j])
    fac = [u[pos, :, j].T * root, vt[pos, j, :].T * root]
    for axis, idx in enumerate(np.unravel_index(pos, k)):
        onehot = np.zeros((k[axis], len(pos)))
        onehot[idx, np.arange(len(pos))] = 1.0
        fac.append(onehot)
    return fac


def _solve(mttkrp: np.ndarray, grams: list) -> np.ndarray:
    """The least-squares factor ``mttkrp @ inv(Hadamard product of the other factors' Gram matrices)``;
    a tiny ridge keeps it defined when terms are collinear (one-hot start, rank above a mode's size)."""
    v = prod(grams)
    v = v + np.eye(len(v)) * (1e-10 * np.trace(v) / len(v) + 1e-300)
    return np.linalg.solve(v, mttkrp.T).T


def _spatial_mttkrp(z: np.ndarray, ks: list, axis: int) -> np.ndarray:
    """z (*k, R) contracted with every spatial factor but ``axis``'s: (k_axis, R)."""
    for other, kf in enumerate(ks):
        if other != axis:
            shape = [1] * (z.ndim - 1) + [kf.shape[1]]
            shape[other] = kf.shape[0]
            z = z * kf.reshape(shape)
    return z.sum(axis=tuple(a for a in range(z.ndim - 1) if a != axis))


def _spatial_weight(ks: list) -> np.ndarray:
    """prod over axes of K_axis, broadcast to (*k, R)."""
    out = np.ones([kf.shape[0] for kf in ks] + [ks[0].shape[1]])
    for axis, kf in enumerate(ks):
        shape = [1] * len(ks) + [kf.shape[1]]
        shape[axis] = kf.shape[0]
        out = out * kf.reshape(shape)
    return out


def als(w: np.ndarray, fac: list, *, sweeps: Optional[int] = None, tol: float = ALS_TOL,
        seconds: Optional[float] = None, info: Optional[dict] = None) -> list[np.ndarray]:
    """ALS sweeps from ``fac`` ([U_out, U_in, K_axis ...]); two matrix products of the weight per sweep
    (W contracted with U_in, then with U_out), the spatial modes from the (k, R) remainder. ``sweeps`` and
    ``seconds`` default to ``ALS_SWEEPS`` and ``ALS_SECONDS`` (read at the call)."""
    sweeps = ALS_SWEEPS if sweeps is None else sweeps
    seconds = ALS_SECONDS if seconds is None else seconds
    o, i, *k = w.shape
    nrm2 = float(np.sum(w * w)) or 1e-300
    u_out, u_in, *ks = [f.copy() for f in fac]
    t0, err, done, best = time.perf_counter(), None, 0, None
    for done in range(1, sweeps + 1):
        sw = _spatial_weight(ks)                                             # (*k, R)
        y = np.tensordot(w, u_in, axes=([1], [0]))                           # (N, *k, R)
        u_out = _solve((y * sw).reshape(o, -1, y.shape[-1]).sum(1), [u_in.T @ u_in] + [f.T @ f for f in ks])
        y = np.tensordot(w, u_out, axes=([0], [0]))                          # (C, *k, R)
        u_in = _solve((y * sw).reshape(i, -1, y.shape[-1]).sum(1), [u_out.T @ u_out] + [f.T @ f for f in ks])
        z = np.einsum("i...r,ir->...r", y, u_in, optimize=True)              # (*k, R)
        chan = (u_out.T @ u_out) * (u_in.T @ u_in)
        for axis in range(len(ks)):
            ks[axis] = _solve(_spatial_mttkrp(z, ks, axis), [chan] + [f.T @ f for a, f in enumerate(ks) if a != axis])
        inner = float(np.sum(z * _spatial_weight(ks)))
        fit2 = float(np.sum(chan * prod(f.T @ f for f in ks)))
        new = np.sqrt(max(nrm2 - 2 * inner + fit2, 0.0) / nrm2)
        if best is not None and new > err:                                   # rounding: keep the better fit
            break
        best, gain, err = [u_out, u_in, *[f.copy() for f in ks]], (err or np.inf) - new, new
        if gain < tol or time.perf_counter() - t0 > seconds:
            break
    if info is not None:
        info.update(als_sweeps=done, als_seconds=round(time.perf_counter() - t0, 2))
    return best if best is not None else [u_out, u_in, *ks]


def factors(w: np.ndarray, rank: int, iters: Optional[int] = None, seconds: Optional[float] = None,
            info: Optional[dict] = None) -> tuple:
    """(U_out (N, R), U_in (C, R), K_axis (k_axis, R) for each axis), the norms spread evenly."""
    fac = warm_start(w, rank)
    if rank >= full_rank(w.shape) or iters == 0:
        if info is not None:
            info.update(als_sweeps=0)
        return tuple(fac)
    fac = als(w, fac, sweeps=iters, seconds=seconds, info=info)
    norms = [np.linalg.norm(f, axis=0) + 1e-30 for f in fac]
    scale = prod(norms) ** (1.0 / len(fac))
    return tuple(f / n * scale for f, n in zip(fac, norms))


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
    """The warm start's energies: every kernel position's squared singular values, largest first
    (min(C, N) prod(k) of them, one per rank slot up to the full rank)."""
    o, i, *k = w.shape
    slices = w.reshape(o, i, -1)
    return np.sort(np.concatenate([squared_singular_values(slices[:, :, p]) for p in range(prod(k))]))[::-1]


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
