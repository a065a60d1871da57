"""Transposed convolution that takes the output size you want, not an ``output_padding`` to work out.

A stride-``s`` conv maps ``s`` different input sizes to the same output size, so its transpose must be
told which one to produce. ``o' = (i' - 1)s - 2p + d(k - 1) + 1 + output_padding`` with
``0 <= output_padding < s`` (Dumoulin & Visin 2016, arXiv:1603.07285, relationship 14):
``output_padding`` only picks among those ``s`` sizes. It adds no zeros to the input and no
computation; the extra rows/columns at the far end get only the taps that reach them.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import torch

from .checks import InputChecked, check_dims, check_groups, check_input, check_positive, eager
from .padding import IntOrTuple, conv_transpose_class, to_tuple

_AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("T", "H", "W")}


class ConvTranspose(InputChecked):
    """``nn.ConvTranspose{1,2,3}d`` whose forward takes ``output_size=`` and checks it.

    ``forward(x, output_size=None)``: ``output_size`` is the spatial size (an int, or one int per axis;
    a full ``(N, C, *S)`` shape is accepted too). It must lie in the reachable range
    ``base .. base + stride - 1`` per axis, with ``base = (i - 1)s - 2p + d(k - 1) + 1``; otherwise a
    ValueError lists the reachable sizes. Without ``output_size`` the constructor's ``output_padding``
    is used, as in PyTorch. Child ``conv`` is the ``nn.ConvTransposeNd`` (its weight is
    ``(C_in, C_out / groups, *k)``).
    Cost: ``C_in * C_out / groups * prod(k) * prod(S_in)`` MACs (every input element meets the kernel).
    Shape: (N, C_in, *S) -> (N, C_out, *S'), S' = (S - 1)s - 2p + d(k - 1) + 1 + output_padding.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTuple,
                 stride: IntOrTuple = 1, padding: IntOrTuple = 0, output_padding: IntOrTuple = 0,
                 groups: int = 1, bias: bool = True, dilation: IntOrTuple = 1, *, dims: int = 2):
        super().__init__()
        dims = check_dims(dims)
        check_groups(in_channels, out_channels, groups)
        k, s, p, op, d = (to_tuple(v, dims, n) for v, n in (
            (kernel_size, "kernel_size"), (stride, "stride"), (padding, "padding"),
            (output_padding, "output_padding"), (dilation, "dilation")))
        check_positive("kernel_size", k)
        check_positive("stride", s)
        check_positive("dilation", d)
        if any(v < 0 for v in p):
            raise ValueError(f"padding must be ints >= 0, got {p}")
        for opi, si, di in zip(op, s, d):
            if not 0 <= opi < max(si, di):
                raise ValueError(f"output_padding must be in [0, max(stride, dilation)), got "
                                 f"output_padding={op} with stride={s}, dilation={d}; "
                                 "pass output_size= to forward instead")
        self.conv = conv_transpose_class(dims)(in_channels, out_channels, k, s, p, op, groups, bias, d)
        self.in_channels, self.out_channels, self.dims = in_channels, out_channels, dims
        # (i - 1) s - 2p + d (k - 1) + 1 + output_padding >= 1  <=>  i >= 1 + ceil((2p - d (k - 1) - op) / s)
        self.min_input_size = tuple(max(1, 1 - (-(2 * pi - di * (ki - 1) - opi) // si))
                                    for ki, si, pi, opi, di in zip(k, s, p, op, d))

    def output_size_range(self, input_size: Sequence[int]) -> list[tuple[int, int]]:
        """``(smallest, largest)`` reachable output size per spatial axis for ``input_size``."""
        c: Any = self.conv
        out = []
        for i, k, s, p, d in zip(input_size, c.kernel_size, c.stride, c.padding, c.dilation):
            base = (i - 1) * s - 2 * p + d * (k - 1) + 1
            out.append((base, base + s - 1))
        return out

    def output_padding_for(self, input_size: Sequence[int],
                           output_size: Union[int, Sequence[int]]) -> tuple[int, ...]:
        """The ``output_padding`` that turns spatial ``input_size`` into ``output_size``."""
        input_size = tuple(int(v) for v in input_size)
        if isinstance(output_size, int):
            output_size = (output_size,) * self.dims
        output_size = tuple(int(v) for v in output_size)
        if len(output_size) == self.dims + 2:          # a full (N, C, *S) shape
            output_size = output_size[2:]
        if len(output_size) != self.dims:
            raise ValueError(f"output_size must give {self.dims} spatial sizes "
                             f"{_AXIS_NAMES[self.dims]}, got {output_size}")
        ranges = self.output_size_range(input_size)
        if any(not lo <= o <= hi for o, (lo, hi) in zip(output_size, ranges)):
            c = self.conv
            reach = ", ".join(f"{lo}..{hi} along {ax}" if hi > lo else f"{lo} along {ax}"
                              for (lo, hi), ax in zip(ranges, _AXIS_NAMES[self.dims]))
            raise ValueError(
                f"{type(self).__name__}: output_size {output_size} is not reachable from input size "
                f"{input_size} with kernel_size={c.kernel_size}, stride={c.stride}, padding={c.padding}, "
                f"dilation={c.dilation}; reachable sizes: {reach}")
        return tuple(o - lo for o, (lo, _) in zip(output_size, ranges))

    def forward(self, x: torch.Tensor,
                output_size: Optional[Union[int, Sequence[int]]] = None) -> torch.Tensor:
        if not torch.jit.is_scripting():
            if self.check_inputs and eager(x):
                check_input(self, x, self.in_channels, self.dims, self.min_input_size)
        if output_size is None:
            return self.conv(x)
        op = self.output_padding_for(x.shape[2:], output_size)      # validates, with our message
        c: Any = self.conv
        size = [(i - 1) * s - 2 * p + d * (k - 1) + 1 + o for i, s, p, d, k, o in zip(
            x.shape[2:], c.stride, c.padding, c.dilation, c.kernel_size, op)]
        return self.conv(x, output_size=size)                        # the child runs: hooks see it
