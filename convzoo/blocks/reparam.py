"""Structural re-parameterization: parallel conv + BN branches summed into one conv with bias.

Ding et al. 2021, "RepVGG: Making VGG-style ConvNets Great Again", arXiv:2101.03697, Sec. 3.3 and
Fig. 4; Vasu et al. 2023, "MobileOne: An Improved One millisecond Mobile Backbone",
arXiv:2206.04040, Sec. 3.1. In eval mode every branch is linear in x (a conv followed by an affine
BN), and convolution is linear in its kernel, so the branches' sum is one convolution:

    BN(conv_W(x)) = conv_{W * g/s}(x) + (b - m * g/s),   s = sqrt(var + eps)   (per output channel)
    conv_{K1}(x) + conv_{K2}(x) = conv_{K1 + K2}(x)      (same stride, kernels centred alike)

A 1x1 kernel is a k x k kernel that is zero but at its centre (pad (k - 1) / 2 zeros per side; with
"same" padding p = (k - 1) / 2 the k x k window centred at output i * s is the 1x1 conv's input
i * s); the identity is the k x k kernel with a 1 at the centre of its own channel.

Convention (timm's, duck-typed): a module that can fuse itself offers ``reparameterize()``;
:func:`reparameterize_model` calls it on every module that does. Export code calls the same
function on its eval-mode copy before tracing.
"""
from __future__ import annotations

import copy
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.checks import InputChecked

__all__ = ["Reparameterizable", "fuse_conv_bn", "identity_kernel", "pad_kernel", "reparameterize_model"]


def fuse_conv_bn(weight: Any, bn: Any, identity: Optional[torch.Tensor] = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(kernel, bias) of ``bn(conv_weight(x))`` in eval mode, computed in float64.

    ``weight``: the conv's (O, I / g, *k) weight, or None for a branch that is BN alone on the
    identity (pass its kernel as ``identity``); ``bn``: an ``nn.BatchNorm*d``.
    """
    w = weight if weight is not None else identity
    if w is None:
        raise ValueError("fuse_conv_bn needs a conv weight or, for a BN-only branch, an identity kernel")
    w = w.double()
    std = (bn.running_var.double() + bn.eps).sqrt()
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(std)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(std)
    t = gamma / std
    return w * t.reshape(-1, *([1] * (w.dim() - 1))), beta - bn.running_mean.double() * t


def identity_kernel(channels: int, groups: int, kernel_size: Sequence[int],
                    device=None) -> torch.Tensor:
    """The (C, C / groups, *k) kernel of the identity map: 1 at the centre of channel i's own input
    (``i % (C / groups)`` within its group), 0 elsewhere."""
    per_group = channels // groups
    k = torch.zeros(channels, per_group, *kernel_size, dtype=torch.float64, device=device)
    centre = tuple(s // 2 for s in kernel_size)
    idx = torch.arange(channels, device=device)
    k[(idx, idx % per_group) + tuple(torch.full_like(idx, c) for c in centre)] = 1.0
    return k


def pad_kernel(kernel: torch.Tensor, kernel_size: Sequence[int]) -> torch.Tensor:
    """Zero-pad a smaller odd kernel (e.g. 1x1) symmetrically to ``kernel_size`` (odd)."""
    pads: list[int] = []
    for have, want in zip(reversed(kernel.shape[2:]), reversed(tuple(kernel_size))):
        p = (want - have) // 2
        pads += [p, p]
    return F.pad(kernel, pads)


class Reparameterizable(InputChecked):
    """Base of the blocks that train with parallel branches and deploy as one conv.

    A subclass sets ``reparam_conv = None`` and its branch children in ``__init__``, lists the
    branch child names in ``_branches`` and implements ``_fused_kernel_bias()`` and
    ``_conv_args()`` (the fused conv's ``nn.Conv2d`` arguments). :meth:`reparameterize` is exact in
    eval mode (float64 arithmetic, rounded once to the weights' dtype).
    """

    _branches: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self.reparam_conv: Optional[nn.Conv2d] = None
        self.drop_path: nn.Module = nn.Identity()

    @property
    def reparameterized(self) -> bool:
        """True once the branches are fused into ``reparam_conv``."""
        return self.reparam_conv is not None

    def _fused_kernel_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _conv_args(self) -> dict:
        raise NotImplementedError

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Fuse the branches into one conv ``reparam_conv`` (in place; timm's method name).

        Called again on a fused block: returns without change (a documented no-op). Raises
        RuntimeError in training mode (the fusion uses BN running statistics, which a training-mode
        forward does not) and ValueError when a fused weight would be NaN/inf; the block is left
        untouched on either error.
        """
        if self.reparam_conv is not None:
            return
        if self.training:
            raise RuntimeError(f"{type(self).__name__}.reparameterize() needs eval mode (it folds BN "
                               f"running statistics, a training-mode forward uses batch statistics); "
                               f"call .eval() first")
        kernel, bias = self._fused_kernel_bias()
        # (meta tensors have no values: a model built on the meta device fuses for shapes and MACs)
        if kernel.device.type != "meta" and not (torch.isfinite(kernel).all() and torch.isfinite(bias).all()):
            raise ValueError(f"{type(self).__name__}.reparameterize(): the fused weights are not finite "
                             f"(a branch has NaN/inf weights or BN statistics); expected finite values")
        ref = self._reference_weight()
        conv = nn.Conv2d(**self._conv_args(), bias=True, device=ref.device, dtype=ref.dtype)
        assert conv.bias is not None
        conv.weight.copy_(kernel.to(ref.dtype))
        conv.bias.copy_(bias.to(ref.dtype))
        for name in self._branches:
            setattr(self, name, None)
        self.drop_path = nn.Identity()   # no branch left to drop (eval mode: it was identity anyway)
        self.reparam_conv = conv

    def _reference_weight(self) -> torch.Tensor:
        return next(p for p in self.parameters())


def reparameterize_model(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Call ``reparameterize()`` on every submodule that offers it (timm's function and convention).

    ``inplace=False`` (default) works on a deep copy and leaves ``model`` as it was. The model must be
    in eval mode (RuntimeError otherwise: the fusion folds BN running statistics). A model without
    such blocks is returned unchanged; calling it twice is a no-op. Returns the (copied) model.
    Shape: the model's own; outputs equal the trained form's in eval mode to float rounding.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"reparameterize_model expects an nn.Module, got {type(model).__name__}")
    targets = [n for n, m in model.named_modules()
               if callable(getattr(m, "reparameterize", None)) and not getattr(m, "reparameterized", False)]
    if targets and model.training:
        raise RuntimeError(f"reparameterize_model needs {type(model).__name__} in eval mode (the fusion "
                           f"folds BN running statistics); call model.eval() first")
    if not inplace:
        model = copy.deepcopy(model)
    for name in targets:
        getattr(model.get_submodule(name), "reparameterize")()
    return model
