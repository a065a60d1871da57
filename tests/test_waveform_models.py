"""Dai et al. 2016 raw-waveform nets (arXiv:1610.00087): counts from Table 1, receptive field, lengths."""
import pytest
import torch
from torch import nn

import convzoo
from convzoo.models.waveform import WaveResBlock
from convzoo.registry import get_pretrained_cfg

AUDIO_MODELS = ["waveform_m3", "waveform_m5", "waveform_m11", "waveform_m18", "waveform_m34_res",
                "waveform_m11_dws", "waveform_m18_dws"]

# Table 1, written out again here (not read from the module): conv1 width, then (width, n convs).
TABLE_1 = {
    "waveform_m3": (256, [(256, 1)]),
    "waveform_m5": (128, [(128, 1), (256, 1), (512, 1)]),
    "waveform_m11": (64, [(64, 2), (128, 2), (256, 3), (512, 2)]),
    "waveform_m18": (64, [(64, 4), (128, 4), (256, 4), (512, 4)]),
    "waveform_m34_res": (48, [(48, 6), (96, 8), (192, 12), (384, 6)]),   # 2 convs per residual block
}
# Table 1's parameter counts as printed (M): the registered cfgs' paper figures
PAPER_M = {n: get_pretrained_cfg(n)["paper"]["mparams"] for n in TABLE_1}
# Trainable-parameter counts of the Keras reimplementation (philipperemy), paper_tables.md Sec. 7.
KERAS = {"waveform_m3": 221_194, "waveform_m5": 559_114, "waveform_m11": 1_786_442,
         "waveform_m18": 3_683_786, "waveform_m34_res": 3_984_154}


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def table_count(name, separable=False, num_classes=10):
    """Conv weights + BN (gamma, beta) + classifier, counted from Table 1."""
    c1, groups = TABLE_1[name]
    total, c = 80 * c1 + 2 * c1, c1
    for width, n in groups:
        for _ in range(n):
            if separable:
                total += 3 * c + 2 * c + c * width + 2 * width     # dw 3 + BN, pw 1x1 + BN
            else:
                total += 3 * c * width + 2 * width
            c = width
    return total + c * num_classes + num_classes


@pytest.mark.parametrize("name", list(TABLE_1))
def test_param_count_is_table_1(name):
    m = convzoo.create_model(name)
    n = n_params(m)
    assert n == table_count(name)
    # the paper prints 0.1M resolution, some rounded (M11 1.78M -> "1.8M"), some truncated
    # (M5 0.56M -> "0.5M"): within one unit of the printed digit
    assert abs(n / 1e6 - PAPER_M[name]) < 0.1


@pytest.mark.parametrize("name", list(KERAS))
def test_param_count_vs_keras(name):
    """Keras counts a bias on every conv (ours have none: BN's shift makes it redundant) and, in
    M34-res, one extra BN after each residual addition; nothing else differs."""
    m = convzoo.create_model(name)
    conv_bias = sum(x.out_channels for x in m.modules() if isinstance(x, nn.Conv1d))
    extra_bn = sum(2 * b.conv2.conv.out_channels for b in m.modules() if isinstance(b, WaveResBlock))
    assert n_params(m) + conv_bias + extra_bn == KERAS[name]


def test_weights_alone():
    """Issue: M3's weights alone are about 0.22M and M5's about 0.56M."""
    def weights(name):
        m = convzoo.create_model(name)
        return sum(x.weight.numel() for x in m.modules() if isinstance(x, (nn.Conv1d, nn.Linear)))
    assert round(weights("waveform_m3") / 1e6, 2) == 0.22
    assert round(weights("waveform_m5") / 1e6, 2) == 0.56


@pytest.mark.parametrize("name", ["waveform_m11", "waveform_m18"])
def test_separable_param_count(name):
    dws = convzoo.create_model(name + "_dws")
    assert n_params(dws) == table_count(name, separable=True)
    assert n_params(dws) < n_params(convzoo.create_model(name)) / 2


def test_first_layer_receptive_field_80_stride_4():
    m = convzoo.create_model("waveform_m3").eval()
    conv = m.stem.conv.conv
    assert conv.kernel_size == (80,) and conv.stride == (4,)
    # Oracle: the input support of one conv1 output, found by autograd on an impulse probe.
    x = torch.zeros(1, 1, 32000, requires_grad=True)
    y = m.stem.conv.conv(x)
    assert y.shape[-1] == 8000
    j = 1000
    y[0, 0, j].backward()
    support = torch.nonzero(x.grad[0, 0]).flatten()
    # TF-SAME padding 38: output j sees inputs 4j - 38 ... 4j + 41 (80 samples, 10 ms at 8 kHz)
    assert support.min().item() == 4 * j - 38 and support.max().item() == 4 * j + 41
    assert len(support) == 80


@pytest.mark.parametrize("name,lengths", [
    ("waveform_m3", [2000, 500]),
    ("waveform_m5", [2000, 500, 125, 32]),
    ("waveform_m11", [2000, 500, 125, 32, 32]),
])
def test_pooled_lengths(name, lengths):
    """Table 1: 32000 -> (conv1 /4, pool /4) 2000 -> 500 -> 125 -> 32."""
    f = convzoo.create_model(name, features_only=True).eval()
    with torch.no_grad():
        feats = f(torch.randn(1, 1, 32000))
    assert [t.shape[-1] for t in feats] == lengths
    assert f.feature_info.reduction()[0] == 16


@pytest.mark.parametrize("name", AUDIO_MODELS)
def test_registry_forward_backward(name):
    assert name in convzoo.list_models(modality="audio")
    m = convzoo.create_model(name, num_classes=7)
    assert m.default_cfg["modality"] == "audio" and m.default_cfg["input_size"] == (1, 32000)
    y = m(torch.randn(2, 1, 4000))
    assert y.shape == (2, 7) and torch.isfinite(y).all()
    y.sum().backward()
    assert all(p.grad is not None for p in m.parameters())


def test_residual_shortcut_repeats_channels():
    """With the residual branch zeroed (BN gamma = beta = 0) the block is relu(repeat(x))."""
    blk = WaveResBlock(4, 8).eval()
    nn.init.zeros_(blk.conv2.norm.weight)
    nn.init.zeros_(blk.conv2.norm.bias)
    x = torch.randn(2, 4, 10)
    expect = torch.relu(torch.stack([x, x], dim=2).reshape(2, 8, 10))   # channel c -> 2c, 2c+1
    assert torch.equal(blk(x), expect)


def test_short_signal_adaptation():
    m = convzoo.create_model("waveform_m11", stem_kernel=5, stem_stride=1, pool=2)
    assert m.stem.conv.conv.kernel_size == (5,)
    assert [f.shape[-1] for f in convzoo.create_model(
        "waveform_m11", stem_kernel=5, stem_stride=1, pool=2, features_only=True)(torch.randn(1, 1, 40))] \
        == [20, 10, 5, 3, 3]


def test_bad_inputs():
    m = convzoo.create_model("waveform_m5")
    with pytest.raises(ValueError, match="3-D input"):
        m(torch.randn(1, 32000))
    with pytest.raises(ValueError, match="1 input channels"):
        m(torch.randn(1, 2, 32000))
    with pytest.raises(ValueError, match="at least"):
        m(torch.randn(1, 1, 2))
