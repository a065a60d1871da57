"""Dilated (atrous) convolution (Yu & Koltun 2016, "Multi-Scale Context Aggregation by Dilated
Convolutions", arXiv:1511.07122)."""
from __future__ import annotations

from typing import Any, Optional

from torch import nn

from .norm import NormSpec
from .conv import ConvNormAct
from .padding import IntOrTuple, to_tuple


class DilatedConv(ConvNormAct):
    """Conv -> Norm -> Act with the kernel's taps ``dilation`` apart and "same" padding.

    A k-tap kernel with dilation d spans ``k + (k - 1)(d - 1)`` inputs (Dumoulin & Visin,
    relationship 15) at the cost of k taps, so stacking dilations 1, 1, 2, 4, 8, 16 of 3x3 convs grows
    the receptive field to 3, 5, 9, 17, 33, 65 with linearly many parameters (Yu & Koltun, Table 1).
    Padding ``(k - 1) // 2 * d`` keeps the size at stride 1 (odd kernels). Same children as
    :class:`ConvNormAct` (``conv``, ``norm``, ``act``).
    Shape: (N, C_in, *S) -> (N, C_out, *ceil(S / stride)).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTuple = 3,
                 dilation: IntOrTuple = 2, stride: IntOrTuple = 1, groups: int = 1,
                 bias: Optional[bool] = None, *, dims: int = 2, norm: NormSpec = "batch",
                 norm_kwargs: Optional[dict] = None, act_layer=nn.ReLU):
        super().__init__(in_channels, out_channels, kernel_size, stride, "same", dilation, groups, bias,
                         dims=dims, norm=norm, norm_kwargs=norm_kwargs, act_layer=act_layer)

    @property
    def effective_kernel_size(self) -> tuple[int, ...]:
        """``k + (k - 1)(d - 1)`` per axis: the span of input one output sees."""
        conv: Any = self.conv
        k = to_tuple(conv.kernel_size, self.dims, "kernel_size")
        d = to_tuple(conv.dilation, self.dims, "dilation")
        return tuple(ki + (ki - 1) * (di - 1) for ki, di in zip(k, d))
