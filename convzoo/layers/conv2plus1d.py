"""(2+1)D convolution (Tran et al. 2018, "A Closer Look at Spatiotemporal Convolutions",
arXiv:1711.11248, Sec. 3.5): a t x d x d 3D conv factored into a 1 x d x d spatial conv, a nonlinearity,
and a t x 1 x 1 temporal conv."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .activations import make_act
from .conv import chain_min_input
from .checks import InputChecked, check_channels, check_input, check_positive, eager
from .norm import NormSpec, make_norm
from .padding import IntOrTuple, to_tuple


def midplanes(in_channels: int, out_channels: int, t: int = 3, d: int = 3) -> int:
    """M_i = floor(t d^2 N_{i-1} N_i / (d^2 N_{i-1} + t N_i)): the width that gives the (2+1)D conv the
    parameter count of the full t x d x d conv (Tran et al. 2018, Sec. 3.5)."""
    return (t * d * d * in_channels * out_channels) // (d * d * in_channels + t * out_channels)


class Conv2Plus1d(InputChecked, nn.Sequential):
    """Spatial 1 x d x d conv -> norm -> act -> temporal t x 1 x 1 conv.

    Striding is split: spatial stride in the first conv, temporal stride in the second. The
    intermediate width defaults to the paper's ``M_i`` (:func:`midplanes`); torchvision's
    ``r2plus1d_18`` computes one M per residual block and reuses it, which callers get by passing
    ``mid_channels``. Children ``spatial``, ``norm``, ``act``, ``temporal`` (torchvision: 0, 1, 2, 3).
    Shape: (N, C_in, T, H, W) -> (N, C_out, T / s_t, H / s, W / s).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTuple = 3,
                 stride: IntOrTuple = 1, padding: Optional[IntOrTuple] = None,
                 mid_channels: Optional[int] = None, bias: bool = False, *,
                 norm: NormSpec = "batch", act_layer=nn.ReLU):
        t, kh, kw = to_tuple(kernel_size, 3, "kernel_size")
        st, sh, sw = to_tuple(stride, 3, "stride")
        if padding is None:
            padding = (t // 2, kh // 2, kw // 2)
        pt, ph, pw = to_tuple(padding, 3, "padding")
        check_channels(in_channels=in_channels, out_channels=out_channels)
        check_positive("kernel_size", (t, kh, kw))
        check_positive("stride", (st, sh, sw))
        if min(pt, ph, pw) < 0:
            raise ValueError(f"padding must be ints >= 0, got {(pt, ph, pw)}")
        if mid_channels is None:
            if kh != kw:
                raise ValueError(f"the M_i formula needs a square spatial kernel, got {kh}x{kw}; "
                                 "pass mid_channels")
            mid_channels = midplanes(in_channels, out_channels, t, kh)
        check_channels(mid_channels=mid_channels)
        super().__init__()
        self.spatial = nn.Conv3d(in_channels, mid_channels, (1, kh, kw), (1, sh, sw), (0, ph, pw), bias=bias)
        self.norm = make_norm(norm, mid_channels, 3)
        self.act = make_act(act_layer)
        self.temporal = nn.Conv3d(mid_channels, out_channels, (t, 1, 1), (st, 1, 1), (pt, 0, 0), bias=bias)
        self.in_channels, self.out_channels, self.mid_channels = in_channels, out_channels, mid_channels
        self.min_input_size = chain_min_input([self.spatial, self.temporal])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():
            if self.check_inputs and eager(x):
                check_input(self, x, self.in_channels, 3, self.min_input_size)
        return self.temporal(self.act(self.norm(self.spatial(x))))
