"""Exponential moving average of a model's weights (Polyak averaging; EfficientNet uses decay 0.9999).

ema = decay * ema + (1 - decay) * weights after every optimizer step; buffers (BN statistics) are
copied. The decay is warmed up as ``min(decay, (1 + n) / (10 + n))`` (TF's
``ExponentialMovingAverage(num_updates=...)``), so short runs are not dominated by the random init.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class ModelEma(nn.Module):
    """A frozen copy of ``model`` updated by :meth:`update`. Child ``module`` is the averaged model."""

    def __init__(self, model: nn.Module, decay: float = 0.9999):
        super().__init__()
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay!r}")
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.num_updates += 1
        n = int(self.num_updates)
        d = min(self.decay, (1 + n) / (10 + n))
        ema_sd, sd = self.module.state_dict(), model.state_dict()
        for k, v in ema_sd.items():
            src = sd[k].detach()
            if v.dtype.is_floating_point:
                v.mul_(d).add_(src.to(v.dtype), alpha=1 - d)
            else:
                v.copy_(src)
