"""Fold BatchNorm into the conv (or linear) layer in front of it, for inference.

In eval mode BN is a per-channel affine map ``y = (x - mean) / sqrt(var + eps) * gamma + beta``; when
``x`` is a conv's output, the map folds into the conv's weight and bias:
``W' = W * s``, ``b' = (b - mean) * s + beta`` with ``s = gamma / sqrt(var + eps)`` per output channel.
Works for standard, depthwise and grouped convs, transposed convs (whose weight is laid out
``(in, out / groups, *k)``, so the scale goes on axis 1 within each group) and ``nn.Linear``, in 1D,
2D and 3D. Shape: the folded model maps the same input to the same output.
"""
from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn

from ._common import relative_error, replace_module

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_TS = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_BNS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
Foldable = (*_CONVS, *_CONV_TS, nn.Linear)


def can_fold(bn: nn.Module) -> bool:
    """A BN folds only when eval mode uses stored statistics (``track_running_stats``)."""
    return isinstance(bn, _BNS) and bn.running_mean is not None and bn.running_var is not None


@torch.no_grad()
def fold_bn_into(layer: nn.Module, bn: nn.Module) -> nn.Module:
    """Fold ``bn`` (eval statistics) into ``layer`` in place and return ``layer``.

    ``layer``: ``nn.ConvNd``, ``nn.ConvTransposeNd`` or ``nn.Linear`` whose output feeds ``bn`` alone.
    """
    if not isinstance(layer, Foldable):
        raise TypeError(f"can fold BatchNorm only into a conv, transposed conv or Linear, "
                        f"got {type(layer).__name__}")
    if not can_fold(bn):
        raise ValueError(f"{type(bn).__name__} has no running statistics (track_running_stats=False); "
                         "it normalises with batch statistics even in eval mode and cannot be folded")
    out_ch = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
    if bn.num_features != out_ch:
        raise ValueError(f"BatchNorm has {bn.num_features} features but the layer before it has "
                         f"{out_ch} output channels")
    w = layer.weight
    dtype = w.dtype
    # Fold in float64 so the folded weights are as exact as float32 allows.
    var, mean = bn.running_var.double(), bn.running_mean.double()
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(mean)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(mean)
    scale = gamma / torch.sqrt(var + bn.eps)                       # (C_out,)
    bias = layer.bias.double() if layer.bias is not None else torch.zeros_like(mean)
    new_bias = (bias - mean) * scale + beta
    k = w.dim() - 2
    if isinstance(layer, _CONV_TS):
        # (C_in, C_out / g, *k): output channel g * (C_out / g) + j lives at [group g rows, j].
        g = layer.groups
        wg = w.double().reshape(g, w.shape[0] // g, w.shape[1], *w.shape[2:])
        wg = wg * scale.reshape(g, 1, w.shape[1], *([1] * k))
        new_w = wg.reshape(w.shape)
    else:
        new_w = w.double() * scale.reshape(-1, *([1] * (w.dim() - 1)))
    layer.weight.copy_(new_w.to(dtype))
    if layer.bias is None:
        layer.bias = nn.Parameter(new_bias.to(dtype=dtype, device=w.device), requires_grad=w.requires_grad)
    else:
        layer.bias.copy_(new_bias.to(dtype))
    return layer


def _sequential_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(layer name, bn name) pairs that are neighbours inside an ``nn.Sequential`` (incl. ConvNormAct)."""
    pairs = []
    for pname, parent in model.named_modules():
        if not isinstance(parent, nn.Sequential):
            continue
        kids = list(parent.named_children())
        for (na, a), (nb, b) in zip(kids, kids[1:]):
            if isinstance(a, Foldable) and can_fold(b):
                prefix = f"{pname}." if pname else ""
                la = f"{prefix}{na}"
                pairs.append((la, f"{prefix}{nb}"))
    return pairs


@torch.no_grad()
def _dataflow_pairs(model: nn.Module, example_input: torch.Tensor) -> tuple[list[tuple[str, str]], object]:
    """(layer name, bn name) pairs where the BN's input *is* the layer's output tensor, seen in a run,
    and the model's output of that run.

    A layer output that is also used by something other than the BN cannot be folded; we refuse such
    pairs by checking that the output is consumed once (Python reference count at the BN call).
    """
    names = {m: n for n, m in model.named_modules()}
    produced: dict[int, tuple[str, object]] = {}   # id(tensor) -> (layer name, tensor)
    consumers: dict[int, int] = {}                 # id(tensor) -> number of modules that read it
    found: list[tuple[str, str]] = []
    handles = []

    def post(mod, args, out):
        if isinstance(out, torch.Tensor):
            produced[id(out)] = (names[mod], out)

    def pre(mod, args):
        for a in args:
            if isinstance(a, torch.Tensor) and id(a) in produced:
                consumers[id(a)] = consumers.get(id(a), 0) + 1
                if can_fold(mod) and produced[id(a)][1] is a:
                    found.append((produced[id(a)][0], names[mod], id(a)))

    for m in model.modules():
        if isinstance(m, Foldable):
            handles.append(m.register_forward_hook(post))
        # every leaf module counts as a consumer, so a conv output read twice is seen
        if not list(m.children()) or can_fold(m):
            handles.append(m.register_forward_pre_hook(pre))
    try:
        out = model(example_input)
    finally:
        for h in handles:
            h.remove()
    seen: dict[str, int] = {}
    for _, bn, _ in found:
        seen[bn] = seen.get(bn, 0) + 1
    # a BN called more than once (shared module) or a layer output read by anything else: skip
    return [(layer, bn) for layer, bn, t in found if seen[bn] == 1 and consumers.get(t, 0) == 1], out


def fold_batchnorm(model: nn.Module, example_input: Optional[torch.Tensor] = None, *,
                   inplace: bool = False) -> nn.Module:
    """Return an eval-mode copy of ``model`` with every BatchNorm that follows a conv/linear folded
    into it and replaced by ``nn.Identity``.

    With ``example_input`` (or a convzoo model, whose ``default_cfg`` gives one) the conv -> BN pairs
    are found from one traced forward pass: a BN is folded only when its input is exactly the output
    of a conv or linear layer that nothing else reads. Without it, neighbours in an ``nn.Sequential``
    (which includes :class:`~convzoo.layers.ConvNormAct`) are folded. BNs that cannot be folded (not
    after a conv, no running stats) stay, in eval mode; their names are in ``model.unfolded_bn``.
    """
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    original = copy.deepcopy(model)        # to name the pair the guard objects to, should it fire
    x, pairs, ref = example_input, None, None
    if x is not None:
        pairs, ref = _dataflow_pairs(model, x)
    else:
        for x in _default_inputs(model):
            try:
                pairs, ref = _dataflow_pairs(model, x)
                break
            except ValueError:   # the smallest size is not accepted by every model: try the next
                continue
        if pairs is None:
            x, pairs = None, _sequential_pairs(model)
    for layer_name, bn_name in pairs:
        fold_bn_into(model.get_submodule(layer_name), model.get_submodule(bn_name))
        replace_module(model, bn_name, nn.Identity())
    if isinstance(ref, torch.Tensor):
        # Guard: a conv output read by the BN *and* by a functional op (``bn(y) + y``) is invisible
        # to module hooks; folding it would change the result, so check the output is unchanged.
        with torch.no_grad():
            out = model(x)
        err = relative_error(out, ref)
        if not err <= 1e-3:
            culprit = _first_changing_pair(original, pairs, x, ref)
            raise RuntimeError(f"folding BatchNorm changed {type(model).__name__}'s output (relative "
                               f"difference {err:.1e}): {culprit}'s output feeds a BatchNorm and is also used "
                               "elsewhere; fold such a model by hand with fold_bn_into, or export with "
                               "fold_bn=False (convzoo export --no-fold-bn)")
    model.unfolded_bn = [n for n, m in model.named_modules() if isinstance(m, _BNS)]
    return model


@torch.no_grad()
def _first_changing_pair(original: nn.Module, pairs, x, ref) -> str:
    """The first "layer -> bn" pair whose fold alone changes the output (the guard's culprit)."""
    for layer_name, bn_name in pairs:
        trial = copy.deepcopy(original)
        fold_bn_into(trial.get_submodule(layer_name), trial.get_submodule(bn_name))
        replace_module(trial, bn_name, nn.Identity())
        if not relative_error(trial(x), ref) <= 1e-3:
            return f"{layer_name!r} (followed by BatchNorm {bn_name!r})"
    return "a conv"


def _default_inputs(model: nn.Module) -> list[torch.Tensor]:
    """Seeded random batches of one at ``min_input_size`` and at ``input_size`` (``default_cfg``):
    the same inputs on every call, so the guard's verdict does not depend on the global RNG."""
    cfg = getattr(model, "default_cfg", None) or {}
    size = cfg.get("input_size")
    if size is None:
        return []
    size = tuple(size)
    sizes = []
    small = cfg.get("min_input_size")
    if small is not None:
        sizes.append(size[:1] + tuple(small)[-(len(size) - 1):])
    sizes.append(size)
    p = next(iter(model.parameters()), None)
    dev = p.device if p is not None else "cpu"
    g = torch.Generator().manual_seed(0)
    return [torch.randn(1, *s, generator=g).to(dev) for s in sizes]
