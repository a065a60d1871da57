"""Key maps from other libraries' checkpoints to a convzoo model's keys: the helper every
``convert_state_dict`` hook uses (see :mod:`convzoo.weights`, which calls the hooks)."""
from __future__ import annotations

from typing import Callable, Mapping, Optional, Union

import torch
from torch import nn


def remap_modules(model: nn.Module, state_dict: Mapping[str, torch.Tensor], module_map: Mapping[str, str],
                  param_map: Optional[Mapping[str, Union[str, tuple[str, Callable]]]] = None
                  ) -> dict[str, torch.Tensor]:
    """Convert ``state_dict`` to ``model``'s keys through a module-path map (ours -> source's).

    For each of our keys ``<module>.<tensor>`` with ``<module>`` in ``module_map`` the tensor is taken
    from ``<module_map[module]>.<tensor>``. ``param_map`` maps whole keys instead, optionally with a
    function applied to the tensor: ``{"stages.0.blocks.0.gamma": ("features.1.0.layer_scale",
    lambda t: t.flatten())}``.
    Source keys that nothing asked for are passed through (renamed to our module path where the map
    names their module), so a strict load reports them.
    """
    param_map = dict(param_map or {})
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for canon in model.state_dict(keep_vars=True):
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
            out[canon] = fn(state_dict[src]) if fn else state_dict[src]
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


def prefixed(ours: str, theirs: str, relative: Mapping[str, str]) -> dict[str, str]:
    """A block's relative module map (``{"dw.conv": "conv_dw"}``) placed under its paths:
    ``{"<ours>.dw.conv": "<theirs>.conv_dw"}``."""
    return {f"{ours}.{k}": f"{theirs}.{v}" for k, v in relative.items()}
