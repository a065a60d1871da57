"""Compiling many models in one process: every model compiled through the same wrapper class is a
recompile of one code object to Dynamo, and with ``fullgraph=True`` the 9th used to fail outright
(``FailOnRecompileLimitHit``; bench/precision.py died at its 9th compile). Dynamo's own "eager"
backend keeps this fast: the guard and cache logic under test is Dynamo's, not inductor's."""
from __future__ import annotations

import torch
from torch import nn

from convzoo.export.engines.inductor import compile_form


def test_more_models_than_dynamos_default_recompile_limit_compile_in_one_process():
    import torch._dynamo.config as dynamo_config
    n = dynamo_config.recompile_limit + 4
    x = torch.randn(1, 3, 8, 8)
    for i in range(n):
        torch.manual_seed(i)
        model = nn.Sequential(nn.Conv2d(3, 4 + i, 3), nn.ReLU()).eval()
        runner = compile_form(model, "fp32", False, compile_backend="eager", freeze=False)
        torch.testing.assert_close(runner(x), model(x))
