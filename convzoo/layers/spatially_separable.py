"""Spatially separable convolution: a k x k conv as a k x 1 conv then a 1 x k conv (k x 1 x 1, 1 x k x 1,
1 x 1 x k in 3D), with ``rank`` channels in between.

The construction is Jaderberg, Vedaldi & Zisserman 2014 ("Speeding up Convolutional Neural Networks
with Low Rank Expansions", BMVC, arXiv:1405.3866), scheme 2, also the n x 1 / 1 x n factorisation of
Inception-v3 (Szegedy et al. 2016, arXiv:1512.00567, Sec. 3.2). Write the weight of a full conv as
the matrix ``M[(i, a), (o, b)] = W[o, i, a, b]`` (input channel and kernel row against output channel
and kernel column). Its SVD ``M = sum_r s_r u_r v_r^T`` is a sum of separable pairs:

    out[o] = sum_r sum_b v_r[o, b] * shift_b( sum_{i, a} u_r[i, a] * shift_a(in[i]) )
             \\__ 1 x k conv, rank -> C_out __/  \\____ k x 1 conv, C_in -> rank ____/

so the k x 1 conv has ``rank`` output channels (the ``u_r``) and the 1 x k conv reads them (the
``v_r``). Truncating at ``rank`` is the best approximation of the weight in Frobenius norm
(Eckart-Young); at ``rank = min(C_in * kh, C_out * kw)`` it is exact. In 3D the same split is done twice
in a row (a tensor-train SVD), giving k x 1 x 1 -> 1 x k x 1 -> 1 x 1 x k.

Cost (2D, stride 1, output H x W): params ``rank * (C_in * kh + C_out * kw)``, MACs
``rank * (C_in * kh + C_out * kw) * H * W`` against ``C_in * C_out * kh * kw * H * W`` for the full conv,
so it pays off when ``rank < C_in * C_out * k / (C_in + C_out)`` (``rank < k C / 2`` for C_in = C_out = C).
Exactness needs ``rank = k C``, i.e. twice the full conv's cost: the savings come from truncating.
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np
import torch
from torch import nn

from .conv import chain_min_input, make_conv
from .checks import InputChecked, check_input, eager
from .padding import IntOrTuple, to_tuple

PaddingSpec = Union[str, int, tuple]
_AXES = {2: ("conv_h", "conv_w"), 3: ("conv_d", "conv_h", "conv_w")}


def _axis_tuple(value: tuple, axis: int, fill: int, dims: int) -> tuple:
    """``value[axis]`` on ``axis`` and ``fill`` elsewhere: the per-axis argument of one 1D conv."""
    return tuple(value[axis] if j == axis else fill for j in range(dims))


class SpatiallySeparableConv(InputChecked, nn.Sequential):
    """k x 1 conv (C_in -> rank) -> 1 x k conv (rank -> C_out); in 3D k x 1 x 1 -> 1 x k x 1 -> 1 x 1 x k.

    No activation in between: the chain is a low-rank *linear* factorisation of a full conv, so
    :meth:`from_conv` can reproduce a trained conv. Stride, dilation and padding of each axis go to
    that axis's conv; only the last conv has a bias (a bias before a zero-padded conv would leak into
    the border). Children ``conv_h``, ``conv_w`` (``conv_d``, ``conv_h``, ``conv_w`` in 3D).
    Shape: (N, C_in, *S) -> (N, C_out, *S'), S' = ceil(S / stride) with "same" padding.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTuple,
                 stride: IntOrTuple = 1, padding: PaddingSpec = "same", dilation: IntOrTuple = 1,
                 rank: int = 1, bias: bool = True, *, dims: int = 2):
        if dims not in _AXES:
            raise ValueError(f"SpatiallySeparableConv factors a conv over 2 or 3 spatial axes, got "
                             f"dims={dims!r} (a 1D kernel is already one factor)")
        if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
            raise ValueError(f"rank must be a positive int, got {rank!r}")
        k = to_tuple(kernel_size, dims, "kernel_size")
        s = to_tuple(stride, dims, "stride")
        d = to_tuple(dilation, dims, "dilation")
        pad = padding if isinstance(padding, str) else to_tuple(padding, dims, "padding")
        super().__init__()
        widths = [in_channels] + [rank] * (dims - 1) + [out_channels]
        for axis, name in enumerate(_AXES[dims]):
            self.add_module(name, make_conv(
                widths[axis], widths[axis + 1], _axis_tuple(k, axis, 1, dims),
                _axis_tuple(s, axis, 1, dims),
                pad if isinstance(pad, str) else _axis_tuple(pad, axis, 0, dims),
                _axis_tuple(d, axis, 1, dims), bias=bias and axis == dims - 1, dims=dims))
        self.in_channels, self.out_channels, self.dims, self.rank = in_channels, out_channels, dims, rank
        self.kernel_size = k
        self.approximation_error: Optional[float] = None
        self.min_input_size = chain_min_input(self.children())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():
            if self.check_inputs and eager(x):
                check_input(self, x, self.in_channels, self.dims, self.min_input_size)
        for conv in self:   # Sequential's own loop, written out: TorchScript has no super()
            x = conv(x)
        return x

    @staticmethod
    def max_rank(in_channels: int, out_channels: int, kernel_size: tuple[int, ...]) -> int:
        """The rank at which the factorisation is exact: ``min(C_in * kh, C_out * kw)`` in 2D (in 3D
        the larger of the two tensor-train ranks ``min(C_in kd, C_out kh kw)``,
        ``min(C_in kd kh, C_out kw)``)."""
        if len(kernel_size) == 2:
            kh, kw = kernel_size
            return min(in_channels * kh, out_channels * kw)
        kd, kh, kw = kernel_size
        return max(min(in_channels * kd, out_channels * kh * kw),
                   min(in_channels * kd * kh, out_channels * kw))

    def full_weight(self) -> torch.Tensor:
        """The (C_out, C_in, *k) weight of the full conv this chain computes (exactly, bias aside)."""
        ws = [getattr(self, n).weight.detach().flatten(2) for n in _AXES[self.dims]]   # (out, in, k_axis)
        if self.dims == 2:
            return torch.einsum("rja,orb->ojab", ws[0], ws[1])
        return torch.einsum("rja,qrb,oqc->ojabc", ws[0], ws[1], ws[2])

    @classmethod
    def from_conv(cls, conv: nn.Module, rank: Optional[int] = None) -> "SpatiallySeparableConv":
        """Factor a trained ``nn.Conv2d`` / ``nn.Conv3d`` (groups=1, zero padding) by SVD.

        ``rank=None`` takes the exact rank (:meth:`max_rank`). The result's ``approximation_error``
        is the relative Frobenius error ``||W - W_rank|| / ||W||`` of the weight; it is 0 (to
        rounding) for a conv whose reshaped weight has rank <= ``rank``, for example
        ``W[o, i] = p[o] q[i] u v^T`` at rank 1. Stride, padding, dilation and bias are copied.
        """
        if not isinstance(conv, (nn.Conv2d, nn.Conv3d)):
            raise TypeError(f"from_conv expects an nn.Conv2d or nn.Conv3d, got {type(conv).__name__}")
        if conv.groups != 1:
            raise ValueError(f"from_conv needs groups=1, got groups={conv.groups} "
                             "(factor each group's conv separately)")
        if conv.padding_mode != "zeros":
            raise ValueError(f"from_conv needs padding_mode='zeros', got {conv.padding_mode!r}")
        dims = 2 if isinstance(conv, nn.Conv2d) else 3
        w = conv.weight.detach().double().cpu().numpy()                   # (O, I, *k)
        o, i = w.shape[:2]
        k = tuple(w.shape[2:])
        full = cls.max_rank(i, o, k)
        rank = full if rank is None else rank
        if not isinstance(rank, int) or not 1 <= rank <= full:
            raise ValueError(f"rank must be an int in [1, {full}] for a {i} -> {o} conv with kernel {k}, "
                             f"got {rank!r}")
        factors = _tt_factors(w, rank)                                    # one (out, in, k_axis) per axis
        mod = cls(i, o, k, conv.stride, conv.padding, conv.dilation, rank, conv.bias is not None,
                  dims=dims)
        # A tensor-train rank can be capped below ``rank`` (e.g. C_in * kd < rank): shrink that conv.
        for axis, (name, f) in enumerate(zip(_AXES[dims], factors)):
            old = getattr(mod, name)
            if old.in_channels != f.shape[1] or old.out_channels != f.shape[0]:
                new = make_conv(f.shape[1], f.shape[0], old.kernel_size, old.stride, old.padding,
                                old.dilation, bias=old.bias is not None, dims=dims)
                setattr(mod, name, new)
                old = new
            old.weight.data.copy_(torch.from_numpy(f.reshape(old.weight.shape)).to(old.weight))
        last = getattr(mod, _AXES[dims][-1])
        if conv.bias is not None:
            last.bias.data.copy_(conv.bias.detach())
        mod = mod.to(device=conv.weight.device, dtype=conv.weight.dtype)
        approx = mod.full_weight().double().cpu().numpy()
        mod.approximation_error = float(np.linalg.norm(approx - w) / max(float(np.linalg.norm(w)), 1e-300))
        return mod


def _truncated_svd(m: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """m ~= left @ right with ``rank`` columns/rows (singular values folded into ``right``)."""
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    r = min(rank, s.size)
    return u[:, :r], s[:r, None] * vt[:r]


def _tt_factors(w: np.ndarray, rank: int) -> list[np.ndarray]:
    """Split a (O, I, *k) weight into 1D convs, one per axis: [(r1, I, ka), (r2, r1, kb), ..., (O, r, kz)].

    2D: SVD of ``M[(i, a), (o, b)]``. 3D: SVD of ``M[(i, a), (b, c, o)]``, then of the remainder
    reshaped ``[(r1, b), (c, o)]`` (a tensor-train decomposition, Oseledets 2011).
    """
    o, i = w.shape[:2]
    k = w.shape[2:]
    rest = np.moveaxis(w, 0, -1)                       # (I, ka, kb, [kc,] O)
    left_width, factors = i, []
    for axis in range(len(k) - 1):
        m = rest.reshape(left_width * k[axis], -1)
        u, rest = _truncated_svd(m, rank)              # u: (left * k_axis, r)
        r = u.shape[1]
        factors.append(u.reshape(left_width, k[axis], r).transpose(2, 0, 1))   # (r, left, k_axis)
        left_width = r
    last = rest.reshape(left_width, k[-1], o).transpose(2, 0, 1)               # (O, r, k_last)
    factors.append(last)
    return factors
