"""Memory-efficient SiLU for training, and the switch that turns it on and off.

SiLU (swish, ``x * sigmoid(x)``) written as two ops stores ``x`` *and* ``sigmoid(x)`` for backward;
EfficientNet users ran out of memory on it (lukemelas/EfficientNet-PyTorch#18). The fix is a custom
autograd function that saves only ``x`` and recomputes the sigmoid in backward (lukemelas PR#88).
A custom autograd function cannot be exported to ONNX or TorchScript, so it sits behind a switch that
:func:`convzoo.export.to_onnx` and :func:`convzoo.export.optimize` turn off.

NOTE: PyTorch's own ``nn.SiLU`` (``F.silu``) already saves only its input, so against ``nn.SiLU`` the
saving is nil; it matters against ``x * torch.sigmoid(x)`` written by hand. Measured numbers are in
docs/deploy.md.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _SiLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return F.silu(x)   # no autograd inside Function.forward: nothing else is kept

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad * (s * (1 + x * (1 - s)))   # d/dx x*sigmoid(x) = s + x s (1 - s)


def memory_efficient_silu(x: torch.Tensor) -> torch.Tensor:
    """SiLU that saves only its input for backward. Shape: any -> same."""
    return _SiLUFunction.apply(x)


class MemoryEfficientSiLU(nn.Module):
    """Drop-in for ``nn.SiLU`` (``inplace`` is accepted and ignored: the input must survive for backward).

    Shape: any -> same.
    """

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace   # kept so swapping back restores the original nn.SiLU(inplace=...)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _SiLUFunction.apply(x)

    def extra_repr(self) -> str:
        return "memory_efficient=True"


def set_memory_efficient(model: nn.Module, enable: bool = True) -> nn.Module:
    """Swap every ``nn.SiLU`` for :class:`MemoryEfficientSiLU` (``enable=True``) or back (``False``).

    Works in place on any module tree and returns ``model``. Parameters and outputs are unchanged;
    only what autograd stores differs.
    """
    src, make = ((nn.SiLU, lambda m: MemoryEfficientSiLU(m.inplace)) if enable
                 else (MemoryEfficientSiLU, lambda m: nn.SiLU(inplace=m.inplace)))
    for name, mod in list(model.named_modules()):
        for child_name, child in list(mod.named_children()):
            if type(child) is src:
                setattr(mod, child_name, make(child))
    return model


def has_custom_autograd(model: nn.Module) -> bool:
    """True when ``model`` holds a module that runs a custom autograd function (not exportable)."""
    return any(isinstance(m, MemoryEfficientSiLU) for m in model.modules())
