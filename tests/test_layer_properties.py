"""Property test over every layer and block class: random dims, channels, kernel, stride, dilation,
padding, groups and input size. Either the output shape is the one Dumoulin & Visin's formulas give
(:func:`convzoo.analysis.conv_output_size` / ``conv_transpose_output_size``, the oracle) or convzoo
raises its own ValueError / TypeError (raised from a convzoo frame): never a PyTorch-internal error,
never a wrong shape, never a configuration the formulas call impossible accepted silently."""
from __future__ import annotations

import math
import traceback

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convzoo.analysis import conv_output_size
from convzoo.analysis.arithmetic import conv_transpose_output_size
from convzoo.blocks import ConvNeXtBlock, FusedMBConv, MBConv
from convzoo.layers import (Conv2Plus1d, ConvNormAct, ConvTranspose, DepthwiseConv, DepthwiseSeparableConv,
                            DilatedConv, PointwiseConv, SpatiallySeparableConv, SqueezeExcite)

LAYERS = ["ConvNormAct", "DepthwiseConv", "PointwiseConv", "DepthwiseSeparableConv",
          "DilatedConv", "SpatiallySeparableConv", "ConvTranspose", "Conv2Plus1d", "SqueezeExcite",
          "MBConv", "FusedMBConv", "ConvNeXtBlock"]
PADDINGS = ["same", "valid", "tf_same", "bogus", -1, 0, 1, 2, 3]


class Impossible(Exception):
    """The oracle says this configuration has no valid output."""


def _out(i, k, s, p, d):
    """One axis through a conv with our padding vocabulary (the oracle's reading of each word)."""
    if isinstance(p, str):
        if p == "tf_same":
            return -(-i // s) if i >= 1 else _raise()
        if p == "valid":
            p = 0
        elif p == "same":
            if k % 2 == 0:
                if s > 1:
                    _raise()
                return i if i >= 1 else _raise()
            p = (k - 1) // 2 * d
        else:
            _raise()
    try:
        return conv_output_size(i, k, s, p, d)
    except ValueError:
        _raise()


def _raise():
    raise Impossible


def _keeps(k, p, d):
    """Does a stride-1 conv with padding ``p`` keep the size (needed by a residual)?"""
    if p == "valid":
        return k == 1
    return p in ("same", "tf_same") or (not isinstance(p, str) and 2 * p == (k - 1) * d)


def _valid_channels(*cs):
    if any(c < 1 for c in cs):
        _raise()


def expected(name, a):
    """The output shape the formulas give, or raise Impossible."""
    dims, cin, cout, k, s, d, p, g, size = (a[x] for x in ("dims", "cin", "cout", "k", "s", "d", "p", "g", "size"))
    if k < 1 or s < 1 or d < 1 or (not isinstance(p, str) and p < 0):
        _raise()
    if name in ("ConvNormAct", "DilatedConv"):
        _valid_channels(cin, cout, g)
        if cin % g or cout % g:
            _raise()
        if name == "DilatedConv":
            p = "same"
        return (cout, *(_out(i, k, s, p, d) for i in size))
    if name == "DepthwiseConv":
        _valid_channels(cin, a["mult"])
        return (cin * a["mult"], *(_out(i, k, s, p, d) for i in size))
    if name == "PointwiseConv":
        _valid_channels(cin, cout, g)
        if cin % g or cout % g:
            _raise()
        return (cout, *(_out(i, 1, 1, 0, 1) for i in size))
    if name == "DepthwiseSeparableConv":
        _valid_channels(cin, cout)
        return (cout, *(_out(i, k, s, p, d) for i in size))
    if name == "SpatiallySeparableConv":
        _valid_channels(cin, cout, a["rank"])
        if dims == 1:
            _raise()
        return (cout, *(_out(i, k, s, p, d) for i in size))
    if name == "ConvTranspose":
        _valid_channels(cin, cout, g)
        if cin % g or cout % g or isinstance(p, str):
            _raise()
        try:
            out = [conv_transpose_output_size(i, k, s, p, 0, d) if i >= 1 else 0 for i in size]
        except ValueError:
            _raise()
        if any(o < 1 for o in out):
            _raise()
        return (cout, *out)
    if name == "Conv2Plus1d":
        _valid_channels(cin, cout)
        if dims != 3 or isinstance(p, str) or (k ** 3 * cin * cout) // (k * k * cin + k * cout) < 1:
            _raise()   # the paper's M_i width (Tran et al. 2018, Sec. 3.5) must be >= 1
        return (cout, *(_out(i, k, s, p, 1) for i in size))
    if name == "SqueezeExcite":
        _valid_channels(cin)
        if any(i < 1 for i in size):
            _raise()
        return (cin, *size)
    if name in ("MBConv", "FusedMBConv"):
        _valid_channels(cin, cout)
        e = a["expand"]
        if e <= 0 or (e != 1 or name == "MBConv") and int(round(cin * e)) < 1:
            _raise()
        if s == 1 and cin == cout and not _keeps(k, p, 1):
            _raise()
        return (cout, *(_out(i, k, s, p, 1) for i in size))
    if name == "ConvNeXtBlock":
        _valid_channels(cin)
        if any(i < 1 for i in size):
            _raise()
        return (cin, *size)
    raise AssertionError(name)


def build(name, a):
    dims, cin, cout, k, s, d, p, g = (a[x] for x in ("dims", "cin", "cout", "k", "s", "d", "p", "g"))
    if name == "ConvNormAct":
        return ConvNormAct(cin, cout, k, s, p, d, g, dims=dims)
    if name == "DilatedConv":
        return DilatedConv(cin, cout, k, d, s, g, dims=dims)
    if name == "DepthwiseConv":
        return DepthwiseConv(cin, k, s, p, d, a["mult"], dims=dims)
    if name == "PointwiseConv":
        return PointwiseConv(cin, cout, groups=g, dims=dims)
    if name == "DepthwiseSeparableConv":
        return DepthwiseSeparableConv(cin, cout, k, s, p, d, dims=dims)
    if name == "SpatiallySeparableConv":
        return SpatiallySeparableConv(cin, cout, k, s, p, d, rank=a["rank"], dims=dims)
    if name == "ConvTranspose":
        return ConvTranspose(cin, cout, k, s, p, groups=g, dilation=d, dims=dims)
    if name == "Conv2Plus1d":
        return Conv2Plus1d(cin, cout, k, s, p)
    if name == "SqueezeExcite":
        return SqueezeExcite(cin, dims=dims)
    if name == "MBConv":
        return MBConv(cin, cout, expand_ratio=a["expand"], kernel_size=k, stride=s, se_ratio=0.25,
                      dims=dims, padding=p)
    if name == "FusedMBConv":
        return FusedMBConv(cin, cout, expand_ratio=a["expand"], kernel_size=k, stride=s, dims=dims, padding=p)
    if name == "ConvNeXtBlock":
        return ConvNeXtBlock(cin, kernel_size=k, dims=dims)
    raise AssertionError(name)


def _mostly(good, bad, weight=8):
    """Valid values ``weight`` times as likely as the invalid ones, so both paths are exercised."""
    return st.sampled_from(list(good) * weight + list(bad))


@st.composite
def configs(draw):
    dims = draw(st.sampled_from([1, 2, 3]))
    return dict(
        dims=dims, cin=draw(_mostly(range(1, 7), [0, -1])), cout=draw(_mostly(range(1, 7), [0, -1])),
        k=draw(_mostly(range(1, 6), [0])), s=draw(_mostly([1, 1, 2, 3], [0])), d=draw(_mostly([1, 1, 2, 3], [0])),
        p=draw(_mostly(["same", "valid", "tf_same", 0, 1, 2], ["bogus", -1], 3)),
        g=draw(_mostly([1, 1, 1, 2, 3], [0], 4)), mult=draw(_mostly([1, 2], [0])),
        rank=draw(_mostly([1, 2, 3], [0])), expand=draw(_mostly([1, 4, 0.5], [-1, 0, 0.1], 3)),
        size3=tuple(draw(st.lists(_mostly(range(1, 10), [0], 4), min_size=3, max_size=3))),
        batch=draw(st.integers(1, 2)), input_dims=draw(_mostly([dims], [1, 2, 3], 12)))


# The arguments each class takes; the others are reset to harmless values before oracle and build.
USES = {"ConvNormAct": "kcsdpg", "DepthwiseConv": "ksdpm", "PointwiseConv": "cg",
        "DepthwiseSeparableConv": "kcsdp", "DilatedConv": "kcsdg", "SpatiallySeparableConv": "kcsdpr",
        "ConvTranspose": "kcsdpg", "Conv2Plus1d": "kcsp", "SqueezeExcite": "", "MBConv": "kcspe",
        "FusedMBConv": "kcspe", "ConvNeXtBlock": "k"}
HARMLESS = dict(k=("k", 1), c=("cout", 2), s=("s", 1), d=("d", 1), p=("p", 0), g=("g", 1), m=("mult", 1),
                r=("rank", 1), e=("expand", 1))


def _restrict(name, a):
    a = dict(a)
    if name == "Conv2Plus1d":   # a 3D layer by definition
        a["dims"] = a["input_dims"] = 3
    if name in ("Conv2Plus1d", "ConvTranspose") and a["p"] in ("same", "valid", "tf_same"):
        a["p"] = {"same": 1, "valid": 0, "tf_same": 2}[a["p"]]   # they take integer padding only
    a["size"] = a["size3"][:a["dims"]]
    for flag, (key, value) in HARMLESS.items():
        if flag not in USES[name]:
            a[key] = value
    return a


def _ours(e: BaseException) -> bool:
    """Raised by convzoo itself (its innermost frame is in the convzoo package), as ValueError/TypeError."""
    frames = traceback.extract_tb(e.__traceback__)
    return isinstance(e, (ValueError, TypeError)) and "/convzoo/" in frames[-1].filename.replace("\\", "/")


@pytest.mark.parametrize("name", LAYERS)
@settings(max_examples=45, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=configs())
def test_layer_gives_formula_shape_or_our_error(name, a):
    a = _restrict(name, a)
    try:
        want = expected(name, a)
        if a["input_dims"] != a["dims"]:
            want = None   # a (N, C, *S) batch of another rank must be refused by us
    except Impossible:
        want = None
    cin = max(a["cin"], 1)
    x = torch.randn(a["batch"], cin, *(a["size"] if a["input_dims"] == a["dims"] else (4,) * a["input_dims"]))
    try:
        m = build(name, a).eval()
        with torch.no_grad():
            y = m(x)
    except Exception as e:   # noqa: BLE001 - the property is about which errors come out
        assert _ours(e), f"{name} {a}: PyTorch-internal or foreign error {type(e).__name__}: {e}"
        assert want is None, f"{name} {a}: refused a valid configuration (expected {want}): {e}"
        assert "\n" not in str(e), f"{name}: error is not one line: {e!r}"
        return
    assert want is not None, f"{name} {a}: accepted an impossible configuration, gave {tuple(y.shape)}"
    assert tuple(y.shape) == (a["batch"], *want), f"{name} {a}: shape {tuple(y.shape)} != {want}"
    assert math.isfinite(float(y.abs().sum()))
