"""Freeze TensorFlow "SAME" padding to constants for a fixed input size.

:class:`~convzoo.layers.padding.Conv2dSame` (and its 1D/3D twins) computes its padding from the input's
shape at run time;
traced for ONNX that becomes a dynamic ``Pad`` ("expected a constant value of the padding argument",
timm#646; TensorRT rejects it, lukemelas#296). Export fixes the spatial size anyway, so we run the model
once, record each conv's pad amounts and replace it with ``Sequential(StaticPad, plain conv)`` sharing
its parameters.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.padding import TF_SAME_CONVS, conv_class, tf_same_pad_amounts
from ._common import replace_module


class StaticPad(nn.Module):
    """Zero padding by fixed amounts (``F.pad`` order: last axis first).

    Shape: (N, C, *S) -> (N, C, *(S + pad)).
    """

    def __init__(self, pads: list[int]):
        super().__init__()
        self.pads = [int(p) for p in pads]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, self.pads) if any(self.pads) else x

    def extra_repr(self) -> str:
        return f"pads={self.pads}"


@torch.no_grad()
def freeze_tf_same_padding(model: nn.Module, example_input: torch.Tensor) -> nn.Module:
    """Replace every TF "SAME" conv in ``model`` (in place) by ``Sequential(StaticPad, conv)`` with the
    amounts it computes for ``example_input``'s spatial size (the conv a plain ``nn.ConvNd`` holding
    the same parameters). Returns ``model``; a no-op when it has none."""
    pads = {}
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, TF_SAME_CONVS):
            def hook(mod, args, name=name):
                x = args[0]
                n = len(mod.kernel_size)
                pads[name] = tf_same_pad_amounts(x.shape[-n:], mod.kernel_size, mod.stride, mod.dilation)
            handles.append(m.register_forward_pre_hook(hook))
    if not handles:
        return model
    try:
        model(example_input)
    finally:
        for h in handles:
            h.remove()
    for name, amounts in pads.items():
        old = model.get_submodule(name)
        conv = conv_class(len(old.kernel_size))(
            old.in_channels, old.out_channels, old.kernel_size, old.stride, 0, old.dilation, old.groups,
            old.bias is not None, device="meta")
        conv.weight, conv.bias = old.weight, old.bias
        replace_module(model, name, nn.Sequential(StaticPad(amounts), conv))
    return model
