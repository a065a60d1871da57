"""Helpers the export tests share: the tolerance, the heavy tier's switch, BN counts (relative error and
random BN: _helpers)."""
from __future__ import annotations

import os

from torch import nn



TOL = 1e-4   # max abs difference relative to the output scale
# The slow tier (every param-heavy model exported, inductor compiling) takes ~2 min with two workers
# on an idle 2-core machine and is part of `make test`; CONVZOO_TEST_HEAVY=0 skips it on a loaded one.
RUN_HEAVY = os.environ.get("CONVZOO_TEST_HEAVY", "1") != "0"




def n_bn(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
