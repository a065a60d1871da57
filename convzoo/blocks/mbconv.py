"""Inverted residual with linear bottleneck (MobileNetV2, Sandler et al. 2018, arXiv:1801.04381,
Table 1) with optional squeeze-excite (MBConv of MnasNet / EfficientNet, arXiv:1905.11946)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..layers.conv import DepthwiseConv, PaddingSpec, PointwiseConv
from ..layers.drop_path import DropPath
from ..layers.checks import InputChecked, check_channels, check_input, eager
from ._checks import check_block_args, check_residual
from .se_width import SEStyle, se_layer


class MBConv(InputChecked):
    """expand 1x1 -> depthwise k x k (stride) -> SE -> project 1x1 (linear, no activation).

    Narrow -> wide -> narrow: the residual joins the *narrow* ends. ``expand_ratio=1`` has no expand
    conv (MobileNetV2's first bottleneck, EfficientNet's MBConv1). SE width is
    ``max(1, int(in_channels * se_ratio))``: from the block's *input* channels, as the official
    EfficientNet code does (torchvision and timm agree). Activation: ReLU6 for MobileNetV2, SiLU
    (swish) for EfficientNet.
    ``dilation`` dilates the depthwise conv (a network's ``output_stride``, arXiv:1706.05587).
    Residual iff stride 1 and in == out. Children: ``expand``, ``dw``, ``se``, ``project``.
    Shape: (N, C_in, *S) -> (N, C_out, *S / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, *, expand_ratio: float = 6,
                 kernel_size: int = 3, stride: int = 1, se_ratio: float = 0.0, act_layer=nn.SiLU,
                 drop_path: float = 0.0, dims: int = 2, norm="batch", norm_kwargs: Optional[dict] = None,
                 padding: PaddingSpec = "same", hidden_channels: Optional[int] = None,
                 se_act_layer=None, se_gate_layer=nn.Sigmoid, se_width: str = "in", dilation: int = 1):
        super().__init__()
        check_block_args(type(self).__name__, in_channels, out_channels, expand_ratio, se_ratio, drop_path)
        hidden = hidden_channels or int(round(in_channels * expand_ratio))
        check_channels(hidden_channels=hidden)
        nk = dict(dims=dims, norm=norm, norm_kwargs=norm_kwargs)
        self.in_channels, self.out_channels, self.dims = in_channels, out_channels, dims
        self.expand = (PointwiseConv(in_channels, hidden, act_layer=act_layer, **nk)
                       if hidden != in_channels else nn.Identity())
        self.dw = DepthwiseConv(hidden, kernel_size, stride, padding, dilation, act_layer=act_layer, **nk)
        self.se = se_layer(hidden, in_channels, se_ratio, SEStyle(se_width, se_act_layer, se_gate_layer),
                           act_layer=act_layer, dims=dims)
        self.project = PointwiseConv(hidden, out_channels, act_layer=None, **nk)   # linear bottleneck
        self.use_residual = stride == 1 and in_channels == out_channels
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.min_input_size = self.dw.min_input_size
        check_residual(self, self.dw.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():
            if self.check_inputs and eager(x):
                check_input(self, x, self.in_channels, self.dims, self.min_input_size)
        out = self.project(self.se(self.dw(self.expand(x))))
        return x + self.drop_path(out) if self.use_residual else out
