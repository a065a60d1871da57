"""Key maps from other libraries' checkpoints to a convzoo model's keys: the helper every
``convert_state_dict`` hook uses (see :mod:`convzoo.weights`, which calls the hooks)."""
from __future__ import annotations

from typing import Callable, Mapping, Optional, Union

import torch
from torch import nn


def _tf_wrappers(model: nn.Module) -> list[str]:
    from ..layers.conv import TFSameConv
    return [name for name, m in model.named_modules() if isinstance(m, TFSameConv)]


def canonical_keys(model: nn.Module) -> dict[str, str]:
    """``{canonical key: state-dict key}``: canonical keys drop the TF-padding wrapper's ``.conv``."""
    wrappers = set(_tf_wrappers(model))
    out = {}
    for key in model.state_dict(keep_vars=True):
        canon = key
        if wrappers:
            module, _, tensor = key.rpartition(".")
            parent, _, last = module.rpartition(".")
            if last == "conv" and parent in wrappers:       # <wrapper>.conv.<tensor>
                canon = f"{parent}.{tensor}" if parent else tensor
        out[canon] = key
    return out


def remap_modules(model: nn.Module, state_dict: Mapping[str, torch.Tensor], module_map: Mapping[str, str],
                  param_map: Optional[Mapping[str, Union[str, tuple[str, Callable]]]] = None
                  ) -> dict[str, torch.Tensor]:
    """Convert ``state_dict`` to ``model``'s keys through a module-path map (ours -> source's).

    For each of our keys ``<module>.<tensor>`` with ``<module>`` in ``module_map`` the tensor is taken
    from ``<module_map[module]>.<tensor>``. ``param_map`` maps whole keys instead, optionally with a
    function applied to the tensor: ``{"stages.0.blocks.0.gamma": ("features.1.0.layer_scale",
    lambda t: t.flatten())}``. Keys are written without TF-padding wrappers (see module docstring).
    Source keys that nothing asked for are passed through (renamed to our module path where the map
    names their module), so a strict load reports them.
    """
    param_map = dict(param_map or {})
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for canon, actual in canonical_keys(model).items():
        fn = None
        if canon in param_map:
            src = param_map[canon]
            if isinstance(src, tuple):
                src, fn = src
        else:
            module, _, tensor = canon.rpartition(".")
            if module not in module_map:
                continue
            src = f"{module_map[module]}.{tensor}" if module_map[module] else tensor
        if src in state_dict:
            out[actual] = fn(state_dict[src]) if fn else state_dict[src]
            used.add(src)
    # Leftovers: name them as ours where the map knows their module (e.g. a checkpoint's classifier
    # when our model has none), so errors and the head check speak our names; else pass through.
    reverse = {theirs: mine for mine, theirs in module_map.items()}
    for k, v in state_dict.items():
        if k in used:
            continue
        module, _, tensor = k.rpartition(".")
        k = f"{reverse[module]}.{tensor}" if module in reverse else k
        out.setdefault(k, v)
    return out
