"""Separable depthwise kernel: a depthwise k x k conv (ConvNeXt's 7 x 7, MobileNet's 3 x 3) as a rank-R
depthwise k x 1 conv then a depthwise 1 x k conv: the lecture's Sobel split applied per channel
(Jaderberg et al. 2014, arXiv:1405.3866, scheme 1 for a single channel); on 3D depthwise kernels the
per-channel (2+1)D split, 1 x k x k then k x 1 x 1.

    K_o[a, b] ~= sum_r u_{o,r}[a] v_{o,r}[b]   (per output channel o: SVD of its k x k kernel)
    x -> conv k x 1 (groups=C: C -> N R) -> conv 1 x k (groups=N: N R -> N, + bias)

Exact at R = min(kh, kw) (2D) / min(kh kw, kt) (3D), Eckart-Young per channel below it. A channel
multiplier (N = m C) is kept: output channel o reads input channel o // m, as in the dense conv.
Shape: (N, C, H, W) -> (N, N_out R, H', W) -> (N, N_out, H', W').
"""
from __future__ import annotations

import numpy as np
from torch import nn

from ._conv import copy_bias, int_padding, mixed_spatial, new_conv, set_weight, stage_macs
from .method import Method


def _matrices(w: np.ndarray) -> np.ndarray:
    """(N, first-axes size, second-axes size): 2D (N, kh, kw); 3D spatial first (N, kh kw, kt)."""
    if w.ndim == 4:
        return w[:, 0]
    n, _, kt, kh, kw = w.shape
    return w[:, 0].transpose(0, 2, 3, 1).reshape(n, kh * kw, kt)


def factors(w: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """(first (N, R, kh) or (N, R, kh, kw), second (N, R, kw) or (N, R, kt))."""
    u, s, vt = np.linalg.svd(_matrices(w), full_matrices=False)
    root = np.sqrt(s[:, :rank])
    first = (u[:, :, :rank] * root[:, None, :]).transpose(0, 2, 1)          # (N, R, a)
    second = root[:, :, None] * vt[:, :rank]                                 # (N, R, b)
    if w.ndim == 5:
        first = first.reshape(first.shape[:2] + w.shape[3:])
    return first, second


def reconstruct(f: tuple) -> np.ndarray:
    first, second = f
    if first.ndim == 3:
        return np.einsum("ora,orb->oab", first, second, optimize=True)[:, None]
    return np.einsum("orab,ort->otab", first, second, optimize=True)[:, None]


def build(conv: nn.Module, f: tuple) -> nn.Module:
    first, second = f
    n, r = first.shape[:2]
    c, pad = conv.in_channels, int_padding(conv)
    if first.ndim == 3:
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = conv.kernel_size, conv.stride, pad, conv.dilation
        a = new_conv(2, c, n * r, (kh, 1), (sh, 1), (ph, 0), (dh, 1), groups=c)
        b = new_conv(2, n * r, n, (1, kw), (1, sw), (0, pw), (1, dw), groups=n, bias=conv.bias is not None)
    else:
        (kt, kh, kw), (st, sh, sw), (pt, ph, pw), (dt, dh, dw) = conv.kernel_size, conv.stride, pad, conv.dilation
        a = new_conv(3, c, n * r, (1, kh, kw), (1, sh, sw), (0, ph, pw), (1, dh, dw), groups=c)
        b = new_conv(3, n * r, n, (kt, 1, 1), (st, 1, 1), (pt, 0, 0), (dt, 1, 1), groups=n, bias=conv.bias is not None)
    set_weight(a, first)
    set_weight(b, second)
    copy_bias(b, conv)
    return nn.Sequential(a, b)


def macs(conv: nn.Module, rank: int, in_sp: tuple, out_sp: tuple) -> int:
    c, n, k = conv.in_channels, conv.out_channels, conv.kernel_size
    if len(k) == 2:
        return (stage_macs(c, n * rank, c, (k[0],), mixed_spatial(in_sp, out_sp, 0))
                + stage_macs(n * rank, n, n, (k[1],), out_sp))
    return (stage_macs(c, n * rank, c, k[1:], (in_sp[0],) + tuple(out_sp[1:]))
            + stage_macs(n * rank, n, n, (k[0],), out_sp))


def full_rank(shape: tuple) -> int:
    k = shape[2:]
    return min(k) if len(k) == 2 else min(k[1] * k[2], k[0])


def _spectra(w: np.ndarray) -> list:
    return [(np.linalg.svd(_matrices(w), compute_uv=False) ** 2).sum(axis=0)]


def _skip(conv: nn.Module):
    if not (conv.groups == conv.in_channels and conv.groups > 1):
        return f"not depthwise (groups={conv.groups}, {conv.in_channels} input channels): separable_dw splits " \
               "depthwise kernels"
    if len(conv.kernel_size) == 1:
        return "1D kernel: already one factor"
    k = tuple(conv.kernel_size)
    if (min(k) == 1) if len(k) == 2 else (k[0] == 1 or k[1] * k[2] == 1):
        return f"kernel {k} has a factor of size 1: nothing to split"
    if int_padding(conv) is None:
        return "even kernel with 'same' padding: no per-axis padding for the split"
    return None


METHOD = Method(
    name="separable_dw", paper="Jaderberg et al. 2014, arXiv:1405.3866 (per channel)", skip=_skip,
    full_rank=full_rank, spectra=_spectra, factor=factors, reconstruct=reconstruct, build=build, macs=macs)
