"""The inference form every engine starts from, prepared in one place.

x -> [deepcopy, eval, plain SiLU] -> re-parameterized (every submodule's ``reparameterize()``,
timm's convention for RepVGG / MobileOne branches) -> BatchNorm folded -> TF "SAME" padding frozen
for the example input's size (engines that trace a fixed size) -> weights in channels_last where
it pays (2D / 3D nets) and frozen (no grad).

Shape: the form maps the same input to the same output as ``model`` (to float rounding).
"""
from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn

from ..layers.memory_efficient import set_memory_efficient
from .fold import fold_batchnorm
from .layout import memory_format_for, to_channels_last
from .static_pad import freeze_tf_same_padding


def reparameterize(model: nn.Module) -> nn.Module:
    """Call ``reparameterize()`` (in place) on every submodule that offers it, deepest first, so a
    block merging its branches sees branches already merged. Returns ``model``."""
    for m in reversed(list(model.modules())):
        fn = getattr(type(m), "reparameterize", None)
        if callable(fn):
            m.reparameterize()
    return model


def inference_form(model: nn.Module, example_input: Optional[torch.Tensor] = None, *,
                   fold_bn: bool = True, channels_last: bool = False,
                   static_padding: bool = False) -> nn.Module:
    """An eval-mode inference copy of ``model`` (see the module docstring); ``model`` is untouched.

    ``example_input`` guides BN folding (:func:`~convzoo.export.fold_batchnorm`) and, with
    ``static_padding``, fixes TF "SAME" padding to its spatial size (needed by every engine that
    traces a graph; eager and torch.compile keep the padding computed per call).
    ``channels_last`` converts the weights where the model has such a layout (not 1D nets)."""
    if static_padding and example_input is None:
        raise ValueError("static_padding needs example_input: the padding is frozen for its size")
    form = copy.deepcopy(model).eval()
    set_memory_efficient(form, False)
    reparameterize(form)
    if fold_bn:
        form = fold_batchnorm(form, example_input, inplace=True)
    if static_padding:
        freeze_tf_same_padding(form, example_input)
    cl = channels_last and memory_format_for(form) is not None
    with torch.no_grad():
        for p in form.parameters():
            if cl:
                p.data = to_channels_last(p.data)
            p.requires_grad_(False)
    return form


def uses_channels_last(model: nn.Module, channels_last: bool) -> bool:
    """Whether ``channels_last`` applies to ``model`` (per its spatial dims; 1D nets have no such layout)."""
    return channels_last and memory_format_for(model) is not None


__all__ = ["inference_form", "reparameterize", "uses_channels_last"]
