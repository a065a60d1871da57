"""MobileOne block (Vasu et al. 2023, "MobileOne: An Improved One millisecond Mobile Backbone",
arXiv:2206.04040, Fig. 3 and Sec. 3.1)."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..layers.checks import check_channels, check_groups, check_input, eager
from ..layers.conv import ConvNormAct
from ..layers.drop_path import DropPath
from .reparam import Reparameterizable, fuse_conv_bn, identity_kernel, pad_kernel
from .se_width import SE_MOBILEONE, se_layer


class MobileOneBlock(Reparameterizable):
    """Train: act(attn(sum_i BN_i(conv_kxk_i(x)) + BN(conv_1x1(x)) + BN(x))); deploy: one k x k conv.

    MobileOne's unit is a depthwise block (``kernel_size=3, groups=C``) followed by a pointwise block
    (``kernel_size=1``); each is one of these. ``num_conv_branches`` is the paper's trivial
    over-parameterization factor k (k parallel k x k conv + BN branches); the *scale* branch
    ``conv_scale`` (1x1 conv + BN) exists when ``kernel_size > 1``; the BN-only ``identity`` branch
    when the shape is kept (stride 1, in == out). ``se=True`` adds squeeze-excite (reduction 16,
    ReLU, sigmoid; MobileOne-S4) between the sum and the activation, kept after fusion.
    Children ``conv_kxk`` (ModuleList of ConvNormAct), ``conv_scale``, ``identity``, ``attn``,
    ``act``, ``drop_path``; fused: ``reparam_conv``, ``attn``, ``act`` (timm's ``MobileOneBlock``).
    Shape: (N, C_in, H, W) -> (N, C_out, ceil(H / stride), ceil(W / stride)).
    """

    _branches = ("conv_kxk", "conv_scale", "identity")

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1, *, num_conv_branches: int = 1, se: bool = False,
                 drop_path: float = 0.0, act_layer=nn.ReLU):
        super().__init__()
        check_channels(in_channels=in_channels, out_channels=out_channels,
                       num_conv_branches=num_conv_branches)
        check_groups(in_channels, out_channels, groups)
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"MobileOneBlock: kernel_size must be an odd int >= 1, got {kernel_size!r}")
        if stride not in (1, 2):
            raise ValueError(f"MobileOneBlock: stride must be 1 or 2, got {stride!r}")
        if not 0.0 <= drop_path < 1.0:
            raise ValueError(f"MobileOneBlock: drop_path must be in [0, 1), got {drop_path!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.groups = kernel_size, stride, groups
        self.num_conv_branches, self.dims = num_conv_branches, 2
        use_identity = in_channels == out_channels and stride == 1
        self.identity = nn.BatchNorm2d(out_channels) if use_identity else None
        self.conv_kxk = nn.ModuleList([ConvNormAct(in_channels, out_channels, kernel_size, stride,
                                                   groups=groups, act_layer=None)
                                       for _ in range(num_conv_branches)])
        self.conv_scale = (ConvNormAct(in_channels, out_channels, 1, stride, groups=groups, act_layer=None)
                           if kernel_size > 1 else None)
        self.drop_path = DropPath(drop_path) if drop_path > 0 and use_identity else nn.Identity()
        # timm's SEModule(C): rd = make_divisible(C / 16, 8, round_limit=0), ReLU, sigmoid
        self.attn = se_layer(out_channels, out_channels, 1 / 16 if se else 0.0, SE_MOBILEONE)
        self.act = act_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():
            if self.check_inputs and eager(x):
                check_input(self, x, self.in_channels, 2, (1, 1))
        if self.reparam_conv is not None:
            y = self.reparam_conv(x)
        else:
            y = self._branches_forward(x)
        return self.act(self.attn(y))

    def _branches_forward(self, x: torch.Tensor) -> torch.Tensor:
        # timm's order of summation (scale, then the k branches): in train mode BN on a tiny batch
        # turns a different rounding into a visible difference, so the order is kept
        if self.conv_scale is not None:
            y = self.conv_scale(x)
            for branch in self.conv_kxk:
                y = y + branch(x)
        else:
            y = self.conv_kxk[0](x)
            for i, branch in enumerate(self.conv_kxk):
                if i > 0:
                    y = y + branch(x)
        if self.identity is not None:
            y = self.drop_path(y) + self.identity(x)
        return y

    def _conv_args(self) -> dict:
        k = self.kernel_size
        return dict(in_channels=self.in_channels, out_channels=self.out_channels, kernel_size=k,
                    stride=self.stride, padding=(k - 1) // 2, groups=self.groups)

    def _fused_kernel_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        ks = (self.kernel_size,) * 2
        branches: list[Any] = list(self.conv_kxk)
        kernel, bias = fuse_conv_bn(branches[0].conv.weight, branches[0].norm)
        for branch in branches[1:]:
            k, b = fuse_conv_bn(branch.conv.weight, branch.norm)
            kernel, bias = kernel + k, bias + b
        if self.conv_scale is not None:
            k, b = fuse_conv_bn(self.conv_scale.conv.weight, self.conv_scale.norm)
            kernel, bias = kernel + pad_kernel(k, ks), bias + b
        if self.identity is not None:
            eye = identity_kernel(self.out_channels, self.groups, ks, device=kernel.device)
            k, b = fuse_conv_bn(None, self.identity, identity=eye)
            kernel, bias = kernel + k, bias + b
        return kernel, bias
