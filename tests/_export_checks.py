"""Helpers the export tests share: relative error, BN with random statistics, BN counts."""
from __future__ import annotations

import os

import torch
from torch import nn



TOL = 1e-4   # max abs difference relative to the output scale
# The slow tier (every param-heavy model exported, inductor compiling) takes ~2 min with two workers
# on an idle 2-core machine and is part of `make test`; CONVZOO_TEST_HEAVY=0 skips it on a loaded one.
RUN_HEAVY = os.environ.get("CONVZOO_TEST_HEAVY", "1") != "0"


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BN non-trivial statistics and affine parameters (a fresh BN folds to ~identity)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.2)
            if m.weight is not None:
                m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.data.copy_(torch.randn(n, generator=g) * 0.3)
    return model.eval()


def n_bn(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
