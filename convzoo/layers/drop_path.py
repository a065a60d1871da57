"""Stochastic depth per sample (Huang et al. 2016, arXiv:1603.09382).

EfficientNet's official code calls this "drop_connect"; it is stochastic depth: each sample's residual
branch is dropped with probability ``p`` and the survivors are scaled by ``1 / (1 - p)``.
"""
from __future__ import annotations

import torch
from torch import nn


def drop_path(x: torch.Tensor, p: float = 0.0, training: bool = False) -> torch.Tensor:
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * mask / keep


class DropPath(nn.Module):
    """Drop the whole residual branch of a sample with probability ``p``; identity in eval.

    Shape: (N, *) -> (N, *).
    """

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"DropPath probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def drop_path_rates(drop_path_rate: float, num_blocks: int) -> list[float]:
    """Linear schedule from 0 to ``drop_path_rate`` over all blocks (as ConvNeXt and timm do).

    NOTE: ConvNeXt (official, timm, torchvision) uses this ``linspace(0, rate, num_blocks)``; the
    EfficientNet family (TF code, timm, torchvision) uses ``rate * i / num_blocks`` (never reaching
    ``rate``), which :class:`~convzoo.models._mbnet.MBNet` computes itself.
    """
    if num_blocks <= 1:
        return [0.0] * num_blocks
    return [drop_path_rate * i / (num_blocks - 1) for i in range(num_blocks)]
