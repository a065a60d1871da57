"""The activation factory, so blocks take a class and stay dims-agnostic."""
from __future__ import annotations

from typing import Callable, Optional

from torch import nn

_INPLACE = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.LeakyReLU, nn.ELU)


def make_act(act_layer: Optional[Callable[..., nn.Module]]) -> nn.Module:
    """Instantiate an activation class (``nn.ReLU``, ``nn.SiLU``, ...); ``None`` gives Identity."""
    if act_layer is None:
        return nn.Identity()
    if isinstance(act_layer, nn.Module):
        raise TypeError(f"act_layer must be a class such as nn.ReLU, not an instance ({act_layer!r})")
    if isinstance(act_layer, type) and issubclass(act_layer, _INPLACE):
        return act_layer(inplace=True)
    return act_layer()  # type: ignore[return-value]  # a class: its instance is a module
