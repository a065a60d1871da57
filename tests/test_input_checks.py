"""Input checks run once, where the user calls in, in eager mode only; bad arguments and inputs get
one-line errors naming what was expected and what came."""
from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

import convzoo
import convzoo.layers.checks as checks
from convzoo.blocks import ConvNeXtBlock, FusedMBConv, MBConv
from convzoo.layers import (ConvNormAct, ConvTranspose, DepthwiseConv, DepthwiseSeparableConv, PointwiseConv,
                            SpatiallySeparableConv, SqueezeExcite)


def _check_calls(fn) -> list[tuple[str, str]]:
    """(caller, callee) for every call into convzoo/layers/checks.py while ``fn`` runs (a profiler
    sees every Python call, whatever name the caller imported the check under)."""
    calls = []

    def prof(frame, event, arg):
        caller = frame.f_back
        if event == "call" and frame.f_code.co_filename == checks.__file__ != caller.f_code.co_filename:
            calls.append((f"{caller.f_code.co_filename.rsplit('/', 1)[-1]}:{caller.f_code.co_name}",
                          frame.f_code.co_name))

    sys.setprofile(prof)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return calls


def test_efficientnet_b0_checks_its_input_once_at_the_top():
    model = convzoo.create_model("efficientnet_b0").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        calls = _check_calls(lambda: model(x))
    assert calls == [("base.py:forward", "eager"), ("base.py:check_input", "check_input")], calls


def test_block_alone_checks_and_nested_block_does_not():
    block = MBConv(8, 8, expand_ratio=4, se_ratio=0.25)
    assert block.check_inputs and not block.dw.check_inputs and not block.se.check_inputs
    assert [c for _, c in _check_calls(lambda: block(torch.randn(1, 8, 5, 5)))] == ["eager", "check_input"]
    with pytest.raises(ValueError, match=r"^MBConv expected 8 input channels, got 3"):
        block(torch.randn(1, 3, 5, 5))
    user_seq = nn.Sequential(ConvNormAct(3, 8))   # a plain container: the layer is called by the user
    with pytest.raises(ValueError, match=r"ConvNormAct expected a 4-D input \(N, C, H, W\), got shape"):
        user_seq(torch.randn(3, 5, 5))


def test_network_error_is_the_networks():
    model = convzoo.create_model("mobilenet_v2", num_classes=3)
    with pytest.raises(ValueError, match=r"^MobileNetV2 expected 3 input channels, got 1"):
        model(torch.randn(1, 1, 32, 32))


def test_too_small_input_names_layer_size_and_minimum():
    layer = ConvNormAct(3, 4, 5, padding="valid")
    with pytest.raises(ValueError, match=r"^ConvNormAct needs a spatial input size of at least \(5, 5\), "
                                         r"got \(4, 9\)$"):
        layer(torch.randn(1, 3, 4, 9))
    sep = SpatiallySeparableConv(2, 2, (3, 5), padding="valid")
    with pytest.raises(ValueError, match=r"at least \(3, 5\), got \(3, 4\)"):
        sep(torch.randn(1, 2, 3, 4))
    up = ConvTranspose(2, 2, 1, padding=2)      # (i - 1) - 4 + 1 >= 1 needs i >= 5
    with pytest.raises(ValueError, match=r"^ConvTranspose needs a spatial input size of at least \(5, 5\)"):
        up(torch.randn(1, 2, 4, 4))
    assert up(torch.randn(1, 2, 5, 5)).shape == (1, 2, 1, 1)


@pytest.mark.parametrize("make, message", [
    (lambda: PointwiseConv(0, 5), r"^in_channels must be an int >= 1, got 0$"),
    (lambda: ConvNormAct(3, 4, 3, padding=-1), r"^padding must be ints >= 0, got \(-1, -1\)$"),
    (lambda: ConvNormAct(3, 4, 3, padding="full"), r'^padding must be "same", "valid", "tf_same" or ints'),
    (lambda: ConvNormAct(3, 4, 0), r"^kernel_size must be ints >= 1, got \(0, 0\)$"),
    (lambda: ConvNormAct(3, 4, 3, stride=(1, 0)), r"^stride must be ints >= 1, got \(1, 0\)$"),
    (lambda: ConvNormAct(3, 4, 3, dilation=0), r"^dilation must be ints >= 1, got \(0, 0\)$"),
    (lambda: ConvNormAct(3, 4, 3, groups=2), r"^groups=2 does not divide in_channels=3$"),
    (lambda: DepthwiseConv(4, depth_multiplier=0), r"^depth_multiplier must be an int >= 1, got 0$"),
    (lambda: MBConv(8, 8, expand_ratio=0), r"^MBConv: expand_ratio must be a number > 0, got 0$"),
    (lambda: MBConv(8, 8, padding="valid"), r"^MBConv: a residual block .* needs padding that keeps the size"),
    (lambda: FusedMBConv(8, 8, expand_ratio=1, padding=0), r"^FusedMBConv: a residual block"),
    (lambda: MBConv(3, 8, expand_ratio=0.1), r"^hidden_channels must be an int >= 1, got 0$"),
    (lambda: ConvNeXtBlock(0), r"^channels must be an int >= 1, got 0$"),
    (lambda: SqueezeExcite(8, se_ratio=0), r"^se_ratio must be in \(0, 1\], got 0$"),
    (lambda: DepthwiseSeparableConv(4, 8, 3, dims=4), r"^dims must be 1, 2 or 3, got 4$"),
    (lambda: ConvNormAct(3, 4, (3, "a")), r"^kernel_size must be an int or a sequence of 2 ints"),
])
def test_constructor_refuses_impossible_configurations(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_checks_are_invisible_to_tracers():
    """The same network that refuses a bad eager input traces without a check node or branch."""
    model = convzoo.create_model("efficientnet_b0", num_classes=3).eval()
    gm = torch.fx.symbolic_trace(model)
    assert not [n for n in gm.graph.nodes if "check" in str(n.target)]
    assert not _check_calls(lambda: gm(torch.randn(1, 3, 32, 32)))
