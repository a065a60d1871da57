"""Activation and normalisation factories, so blocks take a class and stay dims-agnostic."""
from __future__ import annotations

from typing import Callable, Optional, Union

from torch import nn

from .padding import batch_norm_class

_INPLACE = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.LeakyReLU, nn.ELU)


def make_act(act_layer: Optional[Callable[..., nn.Module]]) -> nn.Module:
    """Instantiate an activation class (``nn.ReLU``, ``nn.SiLU``, ...); ``None`` gives Identity."""
    if act_layer is None:
        return nn.Identity()
    if isinstance(act_layer, nn.Module):
        raise TypeError(f"act_layer must be a class such as nn.ReLU, not an instance ({act_layer!r})")
    if isinstance(act_layer, type) and issubclass(act_layer, _INPLACE):
        return act_layer(inplace=True)
    return act_layer()


NormSpec = Union[str, bool, None, Callable[[int], nn.Module]]


def make_norm(norm: NormSpec, channels: int, dims: int, **kwargs) -> nn.Module:
    """Build a norm layer: ``"batch"`` (default), ``"layer"`` (over channels), ``"group"``, a callable
    taking the channel count, or ``None``/``False`` for none."""
    if norm is None or norm is False:
        return nn.Identity()
    if norm is True or norm == "batch":
        return batch_norm_class(dims)(channels, **kwargs)
    if norm == "layer":
        from .norm import ChannelLayerNorm
        return ChannelLayerNorm(channels, **kwargs)
    if norm == "group":
        return nn.GroupNorm(kwargs.pop("num_groups", 32), channels, **kwargs)
    if callable(norm):
        return norm(channels, **kwargs)
    raise ValueError(f'norm must be "batch", "layer", "group", None or a callable, got {norm!r}')
