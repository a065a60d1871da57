"""Universal Inverted Bottleneck (MobileNetV4, Qin et al. 2024, arXiv:2404.10518, Sec. 3.2, Fig. 4)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..layers.channels import make_divisible
from ..layers.checks import InputChecked, check_channels, check_input, eager
from ..layers.conv import DepthwiseConv, PaddingSpec, PointwiseConv
from ..layers.drop_path import DropPath
from ._checks import check_block_args, check_residual

# (start, mid) present -> the paper's name for the instance (Fig. 4)
UIB_KINDS = {(True, True): "ExtraDW", (False, True): "IB", (True, False): "ConvNext", (False, False): "FFN"}


def _check_kernel(name: str, k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 0 or (k > 0 and k % 2 == 0):
        raise ValueError(f"UniversalInvertedResidual: {name} must be 0 (no depthwise conv) or an odd "
                         f"int >= 1, got {k!r}")
    return k


class UniversalInvertedResidual(InputChecked):
    """[dw start k_s] -> expand 1x1 (act) -> [dw mid k_m (act)] -> project 1x1 (linear) (+ x).

    Two optional depthwise convs around MobileNetV2's inverted bottleneck make one searchable block
    (Fig. 4): ``start_kernel`` and ``mid_kernel`` both > 0 is **ExtraDW** (the paper's new variant),
    mid only the **IB** (MobileNetV2's MBConv), start only **ConvNext**-like (the spatial mixing before
    the expansion, as ConvNeXt's 7x7), neither the **FFN** (two 1x1s, a transformer's MLP).
    The stride sits on the mid depthwise conv, or on the start one when there is no mid; an FFN cannot
    stride, and a kernel that is even or negative is refused (one line naming it). The start dw has
    a norm but no activation (as the TF reference and timm). Expanded width:
    ``make_divisible(in_channels * expand_ratio, 8)``. Residual iff stride 1 and in == out.
    Children: ``dw_start``, ``expand``, ``dw_mid``, ``project`` (Identity when absent), ``drop_path``.
    ``kind`` names the instance ("ExtraDW", "IB", "ConvNext", "FFN"). 1D/2D/3D (``dims``).
    Cost (MACs per output position, C_in -> E -> C_out, before striding): k_s^d C_in + C_in E +
    k_m^d E + E C_out.
    Shape: (N, C_in, *S) -> (N, C_out, *S / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, *, start_kernel: int = 0,
                 mid_kernel: int = 3, expand_ratio: float = 4.0, stride: int = 1, act_layer=nn.ReLU,
                 drop_path: float = 0.0, dims: int = 2, norm="batch", norm_kwargs: Optional[dict] = None,
                 padding: PaddingSpec = "same"):
        super().__init__()
        check_block_args(type(self).__name__, in_channels, out_channels, expand_ratio, 0.0, drop_path)
        start, mid = _check_kernel("start_kernel", start_kernel), _check_kernel("mid_kernel", mid_kernel)
        if stride != 1 and not (start or mid):
            raise ValueError(f"UniversalInvertedResidual: stride={stride!r} needs a depthwise conv; the "
                             f"FFN form (start_kernel=0, mid_kernel=0) only takes stride 1")
        hidden = make_divisible(in_channels * expand_ratio, 8)
        check_channels(hidden_channels=hidden)
        nk = dict(dims=dims, norm=norm, norm_kwargs=norm_kwargs)
        self.in_channels, self.out_channels, self.dims = in_channels, out_channels, dims
        self.kind = UIB_KINDS[(bool(start), bool(mid))]
        self.dw_start = (DepthwiseConv(in_channels, start, 1 if mid else stride, padding, act_layer=None, **nk)
                         if start else nn.Identity())
        self.expand = PointwiseConv(in_channels, hidden, act_layer=act_layer, **nk)
        self.dw_mid = (DepthwiseConv(hidden, mid, stride, padding, act_layer=act_layer, **nk)
                       if mid else nn.Identity())
        self.project = PointwiseConv(hidden, out_channels, act_layer=None, **nk)   # linear bottleneck
        self.use_residual = stride == 1 and in_channels == out_channels
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        spatial = [m for m in (self.dw_start, self.dw_mid) if not isinstance(m, nn.Identity)]
        self.min_input_size = spatial[0].min_input_size if spatial else (1,) * dims
        for m in spatial:
            check_residual(self, m.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():
            if self.check_inputs and eager(x):
                check_input(self, x, self.in_channels, self.dims, self.min_input_size)
        out = self.project(self.dw_mid(self.expand(self.dw_start(x))))
        return x + self.drop_path(out) if self.use_residual else out

    def extra_repr(self) -> str:
        return f"kind={self.kind}"
