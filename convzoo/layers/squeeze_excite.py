"""Squeeze-and-Excitation (Hu et al. 2018, arXiv:1709.01507), as used inside MBConv."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .activations import make_act
from .checks import InputChecked, check_channels, check_dims, check_input, eager
from .padding import conv_class


class SqueezeExcite(InputChecked):
    """Channel attention: global average pool -> 1x1 reduce -> act -> 1x1 expand -> gate -> scale.

    ``squeeze_channels`` is given explicitly because the reference codes disagree on what the ratio is
    relative to: EfficientNet's official code squeezes from the *block input* width
    (``max(1, int(in_channels * 0.25))``), not the expanded width. Children ``reduce``, ``expand``
    (1x1 convs with bias), as torchvision's ``fc1``/``fc2`` and timm's ``conv_reduce``/``conv_expand``.
    Shape: (N, C, *S) -> (N, C, *S).
    """

    def __init__(self, channels: int, squeeze_channels: Optional[int] = None, se_ratio: float = 0.25,
                 *, dims: int = 2, act_layer=nn.SiLU, gate_layer=nn.Sigmoid):
        super().__init__()
        check_dims(dims)
        check_channels(channels=channels)
        if squeeze_channels is None:
            if not 0.0 < se_ratio <= 1.0:
                raise ValueError(f"se_ratio must be in (0, 1], got {se_ratio!r}")
            squeeze_channels = max(1, int(channels * se_ratio))
        check_channels(squeeze_channels=squeeze_channels)
        conv = conv_class(dims)
        self.channels, self.dims = channels, dims
        self.axes = list(range(2, dims + 2))   # known here, so tracing never asks x.dim()
        self.reduce = conv(channels, squeeze_channels, 1)
        self.act = make_act(act_layer)
        self.expand = conv(squeeze_channels, channels, 1)
        self.gate = make_act(gate_layer)

    def excite(self, s: torch.Tensor) -> torch.Tensor:
        """Per-channel weights in (0, 1) from the squeezed (N, C, 1, ...) descriptor."""
        return self.gate(self.expand(self.act(self.reduce(s))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():
            if self.check_inputs and eager(x):
                check_input(self, x, self.channels, self.dims, (1,) * self.dims)
        s = x.mean(self.axes, keepdim=True)   # squeeze: (N, C, 1, ...)
        return x * self.excite(s)
