"""ConvNeXt block (Liu et al. 2022, "A ConvNet for the 2020s", arXiv:2201.03545, Fig. 4) and its V2
form (Woo et al. 2023, arXiv:2301.00808, Fig. 5: GRN after the MLP's GELU, layer scale removed)."""
from __future__ import annotations

import torch
from torch import nn

from ..layers.conv import make_conv
from ..layers.drop_path import DropPath
from ..layers.grn import GlobalResponseNorm
from ..layers.checks import InputChecked, check_channels, check_input, eager


class ConvNeXtBlock(InputChecked):
    """x + DropPath(gamma * Linear(4C->C)(GELU(Linear(C->4C)(LN(DWConv7x7(x)))))).

    The 1x1 convs are ``nn.Linear`` on channels-last data, as in the official code (it found this
    slightly faster). Child names are the official checkpoint keys: ``dwconv``, ``norm``, ``pwconv1``,
    ``act``, ``pwconv2``, ``gamma`` (layer scale, initialised to 1e-6). ``dilation`` dilates the
    depthwise conv (a network's ``output_stride``, as timm's). Works for 1D/2D/3D (``dims``).
    ``grn=True`` is ConvNeXt V2's block: x + DropPath(Linear(GRN(GELU(Linear(LN(DWConv(x))))))), a
    :class:`~convzoo.layers.GlobalResponseNorm` child ``grn`` on the 4C-wide hidden layer; V2 drops
    layer scale ("redundant" with GRN, Sec. 3.2), so its models pass ``layer_scale_init=0``.
    Shape: (N, C, *S) -> (N, C, *S).
    """

    def __init__(self, channels: int, *, kernel_size: int = 7, drop_path: float = 0.0,
                 layer_scale_init: float = 1e-6, mlp_ratio: float = 4.0, dims: int = 2,
                 ln_eps: float = 1e-6, dilation: int = 1, grn: bool = False):
        super().__init__()
        check_channels(channels=channels)
        if not mlp_ratio > 0:
            raise ValueError(f"mlp_ratio must be > 0, got {mlp_ratio!r}")
        if not isinstance(kernel_size, int) or isinstance(kernel_size, bool) or kernel_size < 1:
            raise ValueError(f"kernel_size must be an int >= 1, got {kernel_size!r}")
        self.channels, self.dims = channels, dims
        self.dwconv = make_conv(channels, channels, kernel_size, dilation=dilation, groups=channels,
                                dims=dims)
        self.norm = nn.LayerNorm(channels, eps=ln_eps)
        hidden = int(mlp_ratio * channels)
        check_channels(hidden_channels=hidden)
        self.pwconv1 = nn.Linear(channels, hidden)
        self.act = nn.GELU()
        self.grn = GlobalResponseNorm(hidden, dims=dims) if grn else nn.Identity()
        self.pwconv2 = nn.Linear(hidden, channels)
        self.gamma = (nn.Parameter(torch.full((channels,), float(layer_scale_init)))
                      if layer_scale_init > 0 else None)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.min_input_size = (1,) * dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():
            if self.check_inputs and eager(x):
                check_input(self, x, self.channels, self.dims, self.min_input_size)
        y = self.dwconv(x).movedim(1, -1)          # (N, C, *S) -> (N, *S, C)
        y = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(y)))))
        if self.gamma is not None:
            y = y * self.gamma
        return x + self.drop_path(y.movedim(-1, 1))
