"""What convzoo.analysis.profile counts and how (functional convs, matmuls, shared modules, custom ops,
devices, dtypes, bad input), and the library models against FlopCounterMode and the papers; split from
test_analysis.py."""
from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F
from torch import nn

import convzoo
from convzoo.analysis import (profile)
from convzoo.blocks import MBConv
from convzoo.layers import (ConvNormAct)

from _oracles import nparams, torch_flops



# --------------------------------------------------------------------------------------------------
# What gets counted, and how.

def test_functional_conv_inside_custom_module_is_counted():
    class Functional(nn.Module):             # hook-based counters report 0 MACs for this
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(16, 3, 3, 3))
            self.proj = nn.Linear(16, 10)

        def forward(self, x):
            x = F.conv2d(x, self.weight, stride=2, padding=1)
            x = torch.einsum("nchw,c->nhw", F.relu(x), self.weight.sum((1, 2, 3)))   # bmm
            return x

    m = Functional()
    p = profile(m, (3, 32, 32))
    conv = 16 * 16 * 16 * 3 * 9
    assert p.macs_by_op["conv"] == conv
    assert p.macs_by_op["matmul"] == 16 * 16 * 16           # einsum contracts C=16 at 16x16 positions
    assert p.macs == torch_flops(m, torch.randn(1, 3, 32, 32)) // 2
    assert p.params == 16 * 27 + 16 * 10 + 10               # the unused Linear still counts
    root = next(r for r in p.layers if r.name == "")
    assert root.macs == p.macs and root.params == 16 * 27


def test_linear_matmul_bmm_counts():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(12, 20)

        def forward(self, x):                                  # x: (N, 5, 12)
            y = self.fc(x)                                     # 5 * 12 * 20 per sample
            a = torch.bmm(y, y.transpose(1, 2))                # 5 * 20 * 5 per sample
            return torch.matmul(a, y)                          # 5 * 5 * 20 per sample

    p = profile(M(), (5, 12), batch_size=3)       # no conv: the size is (C, *S), batch prepended
    assert p.macs == 3 * (5 * 12 * 20 + 5 * 20 * 5 + 5 * 5 * 20)


def test_shared_module_params_once_macs_per_call():
    conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
    shared = nn.Sequential(conv, nn.ReLU(), conv)
    p = profile(shared, (4, 6, 6))
    assert p.params == 4 * 4 * 9
    assert p.macs == 2 * 4 * 4 * 9 * 36
    row = next(r for r in p.layers if r.name == "0")
    assert row.calls == 2 and row.macs == 2 * 4 * 4 * 9 * 36

    tied = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8))
    tied[1].weight = tied[0].weight                              # tied parameter, counted once
    assert profile(tied, (8,)).params == 64 + 8 + 8
    assert sum(r.params for r in profile(tied, (8,)).layers) == 64 + 8 + 8


_CUSTOM = {}


def _custom_scale2():
    if "op" not in _CUSTOM:
        @torch.library.custom_op("convzoo_test::scale2", mutates_args=())
        def scale2(x: torch.Tensor) -> torch.Tensor:
            return x * 2
        _CUSTOM["op"] = scale2
    return _CUSTOM["op"]


def test_zero_mac_ops_are_listed_and_custom_ops_are_uncounted():
    lib_op = _custom_scale2()

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            y = torch.relu(self.bn(self.conv(x)))
            y = F.max_pool2d(y, 2) + 1.0
            return lib_op(y)

    p = profile(M(), (3, 4, 4))
    assert p.macs == 4 * 3 * 16
    assert p.uncounted == ["convzoo_test::scale2"]
    assert {"relu", "max_pool2d_with_indices", "add"} & set(p.zero_mac_ops)
    assert "Uncounted ops" in p.table()
    root = next(r for r in p.layers if r.name == "")
    assert root.uncounted == ["convzoo_test::scale2"]


def test_profile_table_and_dict():
    m = nn.Sequential(ConvNormAct(3, 8, 3, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))
    p = profile(m, (3, 16, 16))
    assert p.macs == 8 * 8 * 8 * 27 + 8 * 5
    d = p.to_dict()
    assert d["macs"] == p.macs and d["flops"] == 2 * p.macs and d["params"] == nparams(m)
    assert [r["name"] for r in d["layers"]] == ["0.conv", "0.norm", "0.act", "1", "2", "3"]
    text = str(p)
    assert "0.conv" in text and f"{p.macs:,}" in text and "FLOPs (= 2 x MACs)" in text
    rows = {r.name: r for r in p.layers}
    assert rows["0.conv"].output_shape == (1, 8, 8, 8) and rows["0.conv"].receptive_field == 3
    assert rows["3"].receptive_field is None                       # after global pooling


def test_profile_restores_training_mode_and_accepts_full_shape():
    m = nn.Sequential(nn.Conv1d(2, 3, 3), nn.BatchNorm1d(3))
    m.train()
    p1 = profile(m, (4, 2, 10))
    p2 = profile(m, (2, 10), batch_size=4)
    assert p1.macs == p2.macs == 4 * 3 * 8 * 2 * 3
    assert m.training and m[1].training
    assert p1.batch_size == 4


def test_profile_meta_device_matches_cpu():
    with torch.device("meta"):
        meta = MBConv(16, 24, expand_ratio=6, stride=2, se_ratio=0.25)
    cpu = MBConv(16, 24, expand_ratio=6, stride=2, se_ratio=0.25)
    pm, pc = profile(meta, (16, 20, 20)), profile(cpu, (16, 20, 20))
    assert (pm.macs, pm.params) == (pc.macs, pc.params)
    assert pm.input_shape == (1, 16, 20, 20)


def test_profile_follows_model_dtype():
    layer = nn.Conv2d(4, 8, 3, padding=1).to(torch.bfloat16)
    p = profile(layer, (4, 6, 6))                       # input made in bfloat16, like the weights
    assert p.macs == 8 * 36 * 4 * 9


@pytest.mark.parametrize("size, err, match", [
    ((3, 32), ValueError, r"expected input_size \(C, \*spatial\) with 3 values"),
    ((3, 0, 8), ValueError, "positive"),
    ("3x32x32", TypeError, "tuple of ints"),
])
def test_profile_bad_input(size, err, match):
    with pytest.raises(err, match=match):
        profile(nn.Conv2d(3, 4, 3), size)


def test_profile_rejects_non_module_and_wrong_device():
    with pytest.raises(TypeError, match="nn.Module"):
        profile(lambda x: x, (3, 8, 8))
    with pytest.raises(ValueError, match="model is on cpu"):
        profile(nn.Conv2d(3, 4, 3), (3, 8, 8), device="meta")


@pytest.mark.parametrize("lib, name, paper_macs", [
    ("torchvision", "mobilenet_v2", 300e6),        # MobileNetV2 Table 4: 300M multiply-adds at 224
    ("timm", "tf_efficientnet_b0", 0.39e9),        # EfficientNet Table 2: 0.39B "FLOPS" (= MACs)
])
def test_library_models_match_flop_counter_and_paper(lib, name, paper_macs):
    """Whole networks from torchvision / timm (timm's tf_ models pad with F.pad + F.conv2d)."""
    if lib == "torchvision":
        import torchvision
        model = getattr(torchvision.models, name)()
    else:
        import timm
        model = timm.create_model(name)
    p = profile(model, (3, 224, 224))
    assert 2 * p.macs == torch_flops(model, torch.zeros(1, 3, 224, 224))
    assert p.params == nparams(model)
    assert p.uncounted == []
    assert round(p.macs / paper_macs, 2) == 1.0 or abs(p.macs - paper_macs) / paper_macs < 0.015


def test_convzoo_profile_reexport():
    assert convzoo.profile is profile


