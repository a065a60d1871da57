"""Fused-MBConv (EfficientNetV2, Tan & Le 2021, arXiv:2104.00298, Fig. 2), a.k.a. timm's EdgeResidual."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..layers.conv import ConvNormAct, PaddingSpec, PointwiseConv
from ..layers.drop_path import DropPath
from ..layers.checks import InputChecked, check_channels, check_input, eager
from ._checks import check_block_args, check_residual
from .se_width import SEStyle, se_layer


class FusedMBConv(InputChecked):
    """One k x k conv (stride) replaces expand 1x1 + depthwise k x k: fused k x k -> [SE] -> project 1x1.

    ``expand_ratio=1`` is the k x k conv alone (with its norm and activation) and no projection, as in
    the official EfficientNetV2 code and torchvision. The paper's Fused-MBConv has no SE; ``se_ratio``
    is there for search spaces; its width, inner activation and gate are as :class:`MBConv`'s
    (``se_width``, ``se_act_layer``, ``se_gate_layer``). ``dilation`` dilates the k x k conv (a
    network's ``output_stride``). Residual iff stride 1 and in == out.
    Children: ``expand`` (the fused k x k), ``se``, ``project`` (Identity when expand_ratio == 1).
    Shape: (N, C_in, *S) -> (N, C_out, *S / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, *, expand_ratio: float = 4,
                 kernel_size: int = 3, stride: int = 1, se_ratio: float = 0.0, act_layer=nn.SiLU,
                 drop_path: float = 0.0, dims: int = 2, norm="batch", norm_kwargs: Optional[dict] = None,
                 padding: PaddingSpec = "same", se_act_layer=None, se_gate_layer=nn.Sigmoid,
                 se_width: str = "in", dilation: int = 1):
        super().__init__()
        check_block_args(type(self).__name__, in_channels, out_channels, expand_ratio, se_ratio, drop_path)
        nk = dict(dims=dims, norm=norm, norm_kwargs=norm_kwargs)
        self.in_channels, self.out_channels, self.dims = in_channels, out_channels, dims
        if expand_ratio == 1:
            self.expand = ConvNormAct(in_channels, out_channels, kernel_size, stride, padding,
                                      dilation, act_layer=act_layer, **nk)
            self.se: nn.Module = nn.Identity()
            self.project: nn.Module = nn.Identity()
        else:
            hidden = int(round(in_channels * expand_ratio))
            check_channels(hidden_channels=hidden)
            self.expand = ConvNormAct(in_channels, hidden, kernel_size, stride, padding,
                                      dilation, act_layer=act_layer, **nk)
            self.se = se_layer(hidden, in_channels, se_ratio, SEStyle(se_width, se_act_layer, se_gate_layer),
                               act_layer=act_layer, dims=dims)
            self.project = PointwiseConv(hidden, out_channels, act_layer=None, **nk)
        self.use_residual = stride == 1 and in_channels == out_channels
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.min_input_size = self.expand.min_input_size
        check_residual(self, self.expand.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():
            if self.check_inputs and eager(x):
                check_input(self, x, self.in_channels, self.dims, self.min_input_size)
        out = self.project(self.se(self.expand(x)))
        return x + self.drop_path(out) if self.use_residual else out
