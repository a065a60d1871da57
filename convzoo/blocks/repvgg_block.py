"""RepVGG block (Ding et al. 2021, "RepVGG: Making VGG-style ConvNets Great Again", arXiv:2101.03697,
Fig. 2 and Sec. 3.3)."""
from __future__ import annotations

import torch
from torch import nn

from ..layers.checks import check_channels, check_groups, check_input, eager
from ..layers.conv import ConvNormAct
from ..layers.drop_path import DropPath
from .reparam import Reparameterizable, fuse_conv_bn, identity_kernel, pad_kernel


class RepVggBlock(Reparameterizable):
    """Train: ReLU(BN(conv_kxk(x)) + BN(conv_1x1(x)) + BN(x)); deploy: ReLU(conv_kxk'(x) + b').

    The identity branch exists when the shape is kept (stride 1, in == out channels). Children
    ``conv_kxk`` and ``conv_1x1`` (:class:`~convzoo.layers.ConvNormAct` without activation),
    ``identity`` (BatchNorm2d or None), ``drop_path``, ``act``; after :meth:`reparameterize` only
    ``reparam_conv`` (k x k conv with bias) and ``act`` act, as timm's ``RepVggBlock``. Stochastic
    depth drops the two conv branches together, not the identity (timm; not in the paper).
    Shape: (N, C_in, H, W) -> (N, C_out, ceil(H / stride), ceil(W / stride)).
    """

    _branches = ("conv_kxk", "conv_1x1", "identity")

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1, *, drop_path: float = 0.0, act_layer=nn.ReLU):
        super().__init__()
        check_channels(in_channels=in_channels, out_channels=out_channels)
        check_groups(in_channels, out_channels, groups)
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"RepVggBlock: kernel_size must be an odd int >= 1 (the 1x1 and identity "
                             f"kernels sit at its centre), got {kernel_size!r}")
        if stride not in (1, 2):
            raise ValueError(f"RepVggBlock: stride must be 1 or 2, got {stride!r}")
        if not 0.0 <= drop_path < 1.0:
            raise ValueError(f"RepVggBlock: drop_path must be in [0, 1), got {drop_path!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.groups = kernel_size, stride, groups
        self.dims = 2
        use_identity = in_channels == out_channels and stride == 1
        self.conv_kxk = ConvNormAct(in_channels, out_channels, kernel_size, stride, groups=groups,
                                    act_layer=None)
        self.conv_1x1 = ConvNormAct(in_channels, out_channels, 1, stride, groups=groups, act_layer=None)
        self.identity = nn.BatchNorm2d(out_channels) if use_identity else None
        self.drop_path = DropPath(drop_path) if drop_path > 0 and use_identity else nn.Identity()
        self.act = act_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():
            if self.check_inputs and eager(x):
                check_input(self, x, self.in_channels, 2, (1, 1))
        if self.reparam_conv is not None:
            y = self.reparam_conv(x)
        else:
            y = self._branches_forward(x)
        return self.act(y)

    def _branches_forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_1x1(x) + self.conv_kxk(x)
        if self.identity is not None:
            y = self.drop_path(y) + self.identity(x)
        return y

    def _conv_args(self) -> dict:
        k = self.kernel_size
        return dict(in_channels=self.in_channels, out_channels=self.out_channels, kernel_size=k,
                    stride=self.stride, padding=(k - 1) // 2, groups=self.groups)

    def _fused_kernel_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        ks = (self.kernel_size,) * 2
        kernel, bias = fuse_conv_bn(self.conv_kxk.conv.weight, self.conv_kxk.norm)
        k1, b1 = fuse_conv_bn(self.conv_1x1.conv.weight, self.conv_1x1.norm)
        kernel, bias = kernel + pad_kernel(k1, ks), bias + b1
        if self.identity is not None:
            eye = identity_kernel(self.out_channels, self.groups, ks, device=kernel.device)
            ki, bi = fuse_conv_bn(None, self.identity, identity=eye)
            kernel, bias = kernel + ki, bias + bi
        return kernel, bias
