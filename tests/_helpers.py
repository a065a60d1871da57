"""The one copy of what many test files need: the CLI in this process with its output captured, the
one-line-error assert, BN with random statistics, and relative error."""
from __future__ import annotations

import re

import torch
from torch import nn


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``convzoo ARGV`` in this process -> (exit code, stdout, stderr), captured by pytest's ``capsys``."""
    from convzoo.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, pattern: str, exit_code: int = 2) -> None:
    """A refusal as the house rule says: exit ``exit_code``, one line on stderr matching ``pattern``,
    no traceback."""
    assert code == exit_code, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert re.search(pattern, lines[0]), lines[0]


def rel_err(a, b) -> float:
    """max |a - b| / max |b|, in float64 (so the measure adds no rounding of its own)."""
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BN non-trivial statistics and affine parameters (a fresh BN folds to ~identity, so a
    comparison through it would not see a wrong fold or a swapped mean/var); puts the model in eval mode."""
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
