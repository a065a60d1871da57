"""LayerNorm over the channel axis of an (N, C, *spatial) tensor (ConvNeXt's "channels_first" LN)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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
