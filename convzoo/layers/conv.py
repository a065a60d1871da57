"""Conv -> Norm -> Act for 1D, 2D and 3D inputs: the one building block every other layer uses."""
from __future__ import annotations

from typing import Any, Callable, Optional, Union

import torch
from torch import nn

from .activations import make_act
from .checks import (InputChecked, check_channels, check_dims, check_groups, check_input, check_positive, eager,
                     min_conv_input)
from .norm import NormSpec, make_norm
from .padding import TF_SAME_CONVS, IntOrTuple, conv_class, conv_same_class, same_padding, to_tuple

PaddingSpec = Union[str, int, tuple]
PADDING_WORDS = ("same", "valid", "tf_same")


def make_conv(in_channels: int, out_channels: int, kernel_size: IntOrTuple, stride: IntOrTuple = 1,
              padding: PaddingSpec = "same", dilation: IntOrTuple = 1, groups: int = 1,
              bias: bool = True, dims: int = 2, padding_mode: str = "zeros") -> nn.Module:
    """A bare ``nn.Conv{dims}d`` with our padding vocabulary.

    ``padding``: ``"same"`` (symmetric, odd kernels; even kernels only at stride 1), ``"valid"``
    (none), ``"tf_same"`` (TensorFlow's asymmetric SAME, computed from the input size: a
    :class:`~convzoo.layers.padding.Conv2dSame` and its 1D/3D twins, with the plain conv's keys), or
    ints >= 0.
    """
    dims = check_dims(dims)
    check_groups(in_channels, out_channels, groups)
    k = to_tuple(kernel_size, dims, "kernel_size")
    s = to_tuple(stride, dims, "stride")
    d = to_tuple(dilation, dims, "dilation")
    check_positive("kernel_size", k)
    check_positive("stride", s)
    check_positive("dilation", d)
    if padding == "tf_same":
        return conv_same_class(dims)(in_channels, out_channels, k, s, 0, d, groups, bias)
    if padding == "same":
        if all(x == 1 for x in s) and any(x % 2 == 0 for x in k):
            pad: object = "same"   # PyTorch pads even kernels asymmetrically at stride 1
        else:
            pad = same_padding(k, s, d, dims)
    elif padding == "valid":
        pad = 0
    elif isinstance(padding, str):
        raise ValueError(f'padding must be "same", "valid", "tf_same" or ints >= 0, got {padding!r}')
    else:
        pad = to_tuple(padding, dims, "padding")
        if any(p < 0 for p in pad):
            raise ValueError(f"padding must be ints >= 0, got {pad}")
    return conv_class(dims)(in_channels, out_channels, k, s, pad, d, groups, bias, padding_mode)


def conv_of(module: nn.Module) -> nn.Module:
    """The conv built by :func:`make_conv` (kept for callers of the former TF-padding wrapper: a
    TF "SAME" conv is now the conv itself)."""
    return module


def pad_total(conv: Any) -> tuple[int, ...]:
    """Total zero padding per axis a conv adds (TF "SAME" and PyTorch's "same" never shrink below 1)."""
    n = len(conv.kernel_size)
    if isinstance(conv, TF_SAME_CONVS) or conv.padding == "same":
        return tuple((k - 1) * d for k, d in zip(conv.kernel_size, conv.dilation))
    if conv.padding == "valid":
        return (0,) * n
    return tuple(2 * p for p in conv.padding)


def chain_min_input(convs) -> tuple[int, ...]:
    """Smallest spatial input for which a chain of convs (applied in order) gives >= 1 output."""
    need: Any = None
    for c in reversed(list(convs)):
        span = [(k - 1) * d + 1 for k, d in zip(c.kernel_size, c.dilation)]
        need = min_conv_input(span, c.stride, pad_total(c), need)
    return need


def residual_keeps_size(conv: Any) -> bool:
    """True when a stride-1 conv's output has its input's size for every input size."""
    return all(p == (k - 1) * d for p, k, d in zip(pad_total(conv), conv.kernel_size, conv.dilation))


class ConvNormAct(InputChecked, nn.Sequential):
    """Conv -> Norm -> Act, for 1D, 2D or 3D inputs (``dims``).

    Padding defaults to "same": ``(k - 1) // 2 * dilation`` on every axis. The conv has no bias when a
    norm follows it (the norm's shift makes a bias redundant), unless ``bias`` says otherwise.
    Children: ``conv``, ``norm``, ``act`` (Identity when absent), so state-dict keys read ``conv.weight``.

    Shape: (N, C_in, *S) -> (N, C_out, *S'), S' = ceil(S / stride) with "same" padding.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTuple = 3,
                 stride: IntOrTuple = 1, padding: PaddingSpec = "same", dilation: IntOrTuple = 1,
                 groups: int = 1, bias: Optional[bool] = None, *, dims: int = 2,
                 norm: NormSpec = "batch", norm_kwargs: Optional[dict] = None,
                 act_layer: Optional[Callable[..., nn.Module]] = nn.ReLU, padding_mode: str = "zeros"):
        has_norm = norm not in (None, False)
        if bias is None:
            bias = not has_norm
        conv = make_conv(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, dims, padding_mode)
        super().__init__()
        self.conv = conv
        self.norm = make_norm(norm, out_channels, dims, **(norm_kwargs or {}))
        self.act = make_act(act_layer)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.dims = dims
        self.min_input_size = chain_min_input([conv])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():
            if self.check_inputs and eager(x):
                check_input(self, x, self.in_channels, self.dims, self.min_input_size)
        return self.act(self.norm(self.conv(x)))


class DepthwiseConv(ConvNormAct):
    """Depthwise conv: one ``k^dims`` filter per input channel (``groups = in_channels``).

    With ``depth_multiplier`` m each channel gets m filters, giving ``m * C`` outputs (MobileNetV1,
    Howard et al. 2017, arXiv:1704.04861, Sec. 3.1). Plain conv with bias by default; pass ``norm`` /
    ``act_layer`` to get the MobileNet "dw -> BN -> ReLU" unit.
    Cost: ``k^dims * C * m * prod(S')`` MACs. Shape: (N, C, *S) -> (N, m*C, *S').
    """

    def __init__(self, in_channels: int, kernel_size: IntOrTuple = 3, stride: IntOrTuple = 1,
                 padding: PaddingSpec = "same", dilation: IntOrTuple = 1, depth_multiplier: int = 1,
                 bias: Optional[bool] = None, *, dims: int = 2, norm: NormSpec = None,
                 norm_kwargs: Optional[dict] = None, act_layer=None, padding_mode: str = "zeros"):
        if isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, int) or depth_multiplier < 1:
            raise ValueError(f"depth_multiplier must be an int >= 1, got {depth_multiplier!r}")
        check_channels(in_channels=in_channels)
        super().__init__(in_channels, in_channels * depth_multiplier, kernel_size, stride, padding,
                         dilation, in_channels, bias, dims=dims, norm=norm, norm_kwargs=norm_kwargs,
                         act_layer=act_layer, padding_mode=padding_mode)
        self.depth_multiplier = depth_multiplier


class PointwiseConv(ConvNormAct):
    """Pointwise conv: a 1x1 (1, 1x1, 1x1x1) conv that mixes channels and nothing else.

    Cost: ``C_in * C_out * prod(S)`` MACs. Shape: (N, C_in, *S) -> (N, C_out, *S).
    """

    def __init__(self, in_channels: int, out_channels: int, bias: Optional[bool] = None, *,
                 groups: int = 1, dims: int = 2, norm: NormSpec = None,
                 norm_kwargs: Optional[dict] = None, act_layer=None):
        super().__init__(in_channels, out_channels, 1, 1, 0, 1, groups, bias, dims=dims, norm=norm,
                         norm_kwargs=norm_kwargs, act_layer=act_layer)


class DepthwiseSeparableConv(InputChecked):
    """MobileNetV1's block: depthwise k x k -> norm/act -> pointwise 1x1 -> norm/act.

    Howard et al. 2017 (arXiv:1704.04861), Fig. 3. Costs ``1/N + 1/k^2`` of the full conv (Eq. 5).
    dw (N, C_in, *S) -> (N, C_in, *S') ; pw -> (N, C_out, *S').
    Children: ``dw``, ``pw``. Shape: (N, C_in, *S) -> (N, C_out, *S'), S' = ceil(S / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTuple = 3,
                 stride: IntOrTuple = 1, padding: PaddingSpec = "same", dilation: IntOrTuple = 1, *,
                 dims: int = 2, norm: NormSpec = "batch", norm_kwargs: Optional[dict] = None,
                 act_layer=nn.ReLU, pw_act_layer="same", depth_multiplier: int = 1,
                 bias: Optional[bool] = None):
        super().__init__()
        self.in_channels, self.out_channels, self.dims = in_channels, out_channels, dims
        # bias=None: a bias on each conv only when no norm follows it (as ConvNormAct)
        self.dw = DepthwiseConv(in_channels, kernel_size, stride, padding, dilation, depth_multiplier,
                                bias, dims=dims, norm=norm, norm_kwargs=norm_kwargs, act_layer=act_layer)
        pw_act = act_layer if pw_act_layer == "same" else pw_act_layer
        self.pw = PointwiseConv(in_channels * depth_multiplier, out_channels, bias, dims=dims, norm=norm,
                                norm_kwargs=norm_kwargs, act_layer=pw_act)
        self.min_input_size = self.dw.min_input_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():
            if self.check_inputs and eager(x):
                check_input(self, x, self.in_channels, self.dims, self.min_input_size)
        return self.pw(self.dw(x))
