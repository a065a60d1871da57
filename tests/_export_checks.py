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


def assert_edge_file_refusals(load, to_file, net, fp32_file, tmp_path, *, suffix: str, words: str, engine: str):
    """The one-line refusals of a one-file edge format (``.pte``, ``.tflite``): a wrong input shape, a
    truncated or foreign file (``words``: "ExecuTorch program", "LiteRT model"), a missing file, a
    precision the engine lacks, int8 without calibration data, a directory as the path."""
    import pytest
    import torch

    from convzoo.export.artifact import ArtifactError
    r = load(fp32_file)
    noun = words.split()[-1]
    with pytest.raises(ValueError, match=rf"the {suffix} {noun} takes input Nx3x16x16, got 2x3x20x20"):
        r(torch.randn(2, 3, 20, 20))
    cut, foreign = tmp_path / f"cut{suffix}", tmp_path / f"foreign{suffix}"
    cut.write_bytes(open(fp32_file, "rb").read()[:300])
    foreign.write_text("not a model at all")
    for bad in (cut, foreign):
        with pytest.raises(ArtifactError, match=rf"{bad.name}: not a readable {words}") as e:
            load(bad)
        assert "\n" not in str(e.value)
    with pytest.raises(FileNotFoundError, match=f"no {suffix} file at"):
        load(tmp_path / f"missing{suffix}")
    with pytest.raises(ValueError, match=f"{engine} engine runs fp32 or int8, got 'bf16'"):
        to_file(net(), tmp_path / f"b{suffix}", precision="bf16")
    with pytest.raises(ValueError, match="int8 quantization needs calibration_data"):
        to_file(net(), tmp_path / f"c{suffix}", precision="int8")
    with pytest.raises(ValueError, match="is an existing directory"):
        to_file(net(), tmp_path)


def tiny_edge_net():
    """conv + BN (random statistics) + depthwise conv + ReLU6 + pool + linear at 3x16x16, 5 classes: the
    edge formats' test net, small enough to convert in seconds."""
    import torch
    from torch import nn
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                      nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU6(), nn.AdaptiveAvgPool2d(1),
                      nn.Flatten(), nn.Linear(8, 5))
    with torch.no_grad():
        m[1].running_mean.uniform_(-1, 1)
        m[1].running_var.uniform_(0.5, 2)
    m.default_cfg = {"input_size": (3, 16, 16)}
    return m.eval()


def drifting_net():
    """A net whose traced graph differs from eager (eager adds 10 outside ``torch.compile``/export): a
    converter's file of it must fail its check against eager."""
    import torch
    from torch import nn

    class Drifts(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(12, 3)
            self.default_cfg = {"input_size": (3, 2, 2)}

        def forward(self, x):
            return self.fc(x.flatten(1)) + (0.0 if torch.compiler.is_compiling() else 10.0)
    return Drifts().eval()
