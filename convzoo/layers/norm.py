"""Normalisation layers: the factory ``make_norm`` (batch, layer, group, by ``dims``) and LayerNorm over the
channel axis of an (N, C, *spatial) tensor (ConvNeXt's "channels_first" LN)."""
from __future__ import annotations

from typing import Callable, Union

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_dims

_BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over C for (N, C, L), (N, C, H, W) or (N, C, T, H, W).

    ConvNeXt (Liu et al. 2022, arXiv:2201.03545) normalises channels only; the official code has a
    "channels_first" LayerNorm for its stem and downsampling layers. We move C last, normalise, move back.
    Shape: (N, C, *) -> (N, C, *).
    """

    def __init__(self, num_channels: int, eps: float = 1e-6, **kwargs):
        super().__init__(num_channels, eps=eps, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.movedim(1, -1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.movedim(-1, 1)


def batch_norm_class(dims: int) -> type[nn.Module]:
    return _BN[check_dims(dims)]


NormSpec = Union[str, bool, None, Callable[[int], nn.Module]]


def make_norm(norm: NormSpec, channels: int, dims: int, **kwargs) -> nn.Module:
    """Build a norm layer: ``"batch"`` (default), ``"layer"`` (over channels), ``"group"``, a callable
    taking the channel count, or ``None``/``False`` for none."""
    if norm is None or norm is False:
        return nn.Identity()
    if norm is True or norm == "batch":
        return batch_norm_class(dims)(channels, **kwargs)
    if norm == "layer":
        return ChannelLayerNorm(channels, **kwargs)
    if norm == "group":
        return nn.GroupNorm(kwargs.pop("num_groups", 32), channels, **kwargs)
    if callable(norm):
        return norm(channels, **kwargs)
    raise ValueError(f'norm must be "batch", "layer", "group", None or a callable, got {norm!r}')
