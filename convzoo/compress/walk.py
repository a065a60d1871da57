"""The model walk: which convs a method may replace (and why the others stay dense), the spatial
sizes each one sees on the example input, and the replacement of a module by name in a copy.

Works on any ``nn.Module`` (convzoo's, timm's, torchvision's): only exact ``nn.Conv1d/2d/3d`` are
factored; subclasses with their own ``forward`` (TF "SAME" padding, weight standardisation) and
transposed convs are listed as dense with the reason.
"""
from __future__ import annotations

import fnmatch
from typing import Optional, Sequence

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd, _ConvTransposeNd

from ._conv import CONV_TYPES


def all_convs(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, _ConvNd)]


def select(model: nn.Module, layers: Optional[Sequence[str]]) -> list[tuple[str, nn.Module]]:
    """Every conv, or those whose name matches one of ``layers`` (names or fnmatch patterns)."""
    convs = all_convs(model)
    if not convs:
        raise ValueError(f"the model ({type(model).__name__}) has no convolution (nn.Conv1d/2d/3d or "
                         "transposed): nothing to compress")
    if layers is None:
        return convs
    if isinstance(layers, str) or not all(isinstance(p, str) for p in layers):
        raise TypeError(f"layers must be a list of layer names or patterns, got {layers!r}")
    for p in layers:
        if not any(fnmatch.fnmatchcase(n, p) for n, _ in convs):
            names = ", ".join(n for n, _ in convs[:8])
            raise ValueError(f"layers: {p!r} matches no conv of the model (convs: {names}"
                             f"{', ...' if len(convs) > 8 else ''})")
    return [(n, m) for n, m in convs if any(fnmatch.fnmatchcase(n, p) for p in layers)]


def generic_skip(conv: nn.Module, method: str) -> Optional[str]:
    """Why no method factors this conv, or None."""
    if isinstance(conv, _ConvTransposeNd):
        return "transposed conv: not factored"
    if type(conv) not in CONV_TYPES:
        return f"{type(conv).__name__}: a conv subclass with its own forward, left as it is"
    if conv.padding_mode != "zeros":
        return f"padding_mode={conv.padding_mode!r}: only zero-padded convs are factored"
    g = conv.groups
    if g > 1 and g != conv.in_channels:
        return f"grouped conv (groups={g}) that is not depthwise"
    if g > 1 and method != "separable_dw":
        return "depthwise conv: only separable_dw factors it"
    return None


def check_finite(name: str, conv: nn.Module) -> None:
    for what, t in (("weight", conv.weight), ("bias", conv.bias)):
        if t is not None and not bool(torch.isfinite(t.detach()).all()):
            raise ValueError(f"layer {name!r} has a non-finite {what} (NaN or inf): compress needs finite "
                             "weights")


@torch.no_grad()
def spatial_sizes(model: nn.Module, x: torch.Tensor, names: Sequence[str]) -> dict[str, tuple]:
    """name -> (input spatial size, output spatial size) of each named conv on ``x``."""
    mods = dict(model.named_modules())
    seen: dict[str, tuple] = {}
    hooks = []
    for n in names:
        def hook(m, inp, out, n=n):
            seen.setdefault(n, (tuple(inp[0].shape[2:]), tuple(out.shape[2:])))
        hooks.append(mods[n].register_forward_hook(hook))
    was = model.training
    try:
        model.eval()(x)
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    return seen


def replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)
