"""Fine-tuning a pretrained network: freezing the backbone, and layer-wise learning-rate decay.

- ``freeze="backbone"``: only the classifier (``default_cfg["classifier"]``) trains, a linear probe.
  Its frozen normalisation layers stay in eval mode, so their running statistics stay the
  pretrained ones (a probe that updates them is no longer a probe of the pretrained features).
- ``layer_decay=d`` (BEiT, Bao et al. 2021, arXiv:2106.08254, Sec. 2.6; timm's
  ``param_groups_layer_decay``): parameters of layer ``i`` of ``L`` learn at ``lr * d**(L - i)``;
  the stem is layer 0, each block of ``stages`` one layer in order, the neck and head layer ``L``.
  Early layers hold general features and move least.

Shape: n/a (parameter bookkeeping). Data flow: model -> param groups ``{params, weight_decay, lr_scale}``.
"""
from __future__ import annotations

import re
from typing import Optional

from torch import nn

__all__ = ["apply_freeze", "keep_frozen_norms_eval", "layer_ids", "param_groups"]

_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)
_BLOCK = re.compile(r"^(stages\.\d+\.\d+)\.|^(stages\.\d+)\.")


def classifier_prefix(model: nn.Module) -> str:
    """The module path of the classifier (``head.fc`` for convzoo's families)."""
    cfg = getattr(model, "default_cfg", None) or {}
    name = cfg.get("classifier") or "head.fc"
    if not any(n == name for n, _ in model.named_modules()):
        raise ValueError(f"{type(model).__name__} has no classifier module {name!r} to keep trainable")
    return name


def apply_freeze(model: nn.Module, freeze: Optional[str]) -> int:
    """Freeze ``model`` as ``freeze`` says (None: nothing); returns the number of trainable tensors."""
    if freeze is None:
        return sum(1 for p in model.parameters() if p.requires_grad)
    if freeze != "backbone":
        raise ValueError(f"freeze must be 'backbone' or None, got {freeze!r}")
    head = classifier_prefix(model)
    n = 0
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(head + "."))
        n += int(p.requires_grad)
    return n


def keep_frozen_norms_eval(model: nn.Module) -> None:
    """Put every normalisation layer whose parameters are all frozen in eval mode (call after ``train()``)."""
    for m in model.modules():
        if isinstance(m, _NORMS):
            ps = list(m.parameters(recurse=False))
            if ps and not any(p.requires_grad for p in ps):
                m.eval()


def layer_ids(model: nn.Module) -> tuple[dict[str, int], int]:
    """``{parameter name: layer id}`` and ``L``: stem 0, blocks 1..B in order, everything after them L."""
    ids: dict[str, int] = {}
    blocks: dict[str, int] = {}
    for name, _ in model.named_parameters():
        m = _BLOCK.match(name)
        if name.startswith("stem."):
            ids[name] = 0
        elif m:
            key = m.group(1) or m.group(2)
            ids[name] = blocks.setdefault(key, len(blocks) + 1)
        else:
            ids[name] = -1            # neck, head: the last layer
    last = len(blocks) + 1
    return {k: (last if v < 0 else v) for k, v in ids.items()}, last


def param_groups(model: nn.Module, weight_decay: float, layer_decay: Optional[float] = None) -> list[dict]:
    """Optimizer groups: weight decay on weights only (not biases or norm parameters, 1-D), and with
    ``layer_decay`` an ``lr_scale`` per layer (the trainer multiplies the scheduled lr by it)."""
    if layer_decay is not None and not 0 < layer_decay <= 1:
        raise ValueError(f"layer_decay must be in (0, 1], got {layer_decay!r}")
    ids, last = layer_ids(model) if layer_decay is not None else ({}, 0)
    groups: dict[tuple[int, bool], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        no_decay = p.ndim <= 1
        layer = ids.get(name, 0)
        g = groups.setdefault((layer, no_decay), {
            "params": [], "weight_decay": 0.0 if no_decay else weight_decay,
            "lr_scale": layer_decay ** (last - layer) if layer_decay is not None else 1.0})
        g["params"].append(p)
    if not groups:
        raise ValueError("no trainable parameters (everything is frozen)")
    return list(groups.values())
