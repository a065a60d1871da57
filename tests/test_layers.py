"""Every layer of convzoo.layers against two oracles: the plain-NumPy reference (convzoo.reference plus
NumPy batch norm / activations written out below) and a hand-composed torch.nn.functional forward
using the module's own weights. Modules run in float64 and eval mode with randomised BN statistics,
so the comparisons are tight and BN is not an identity."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from convzoo.blocks import MBConv
from convzoo.layers import (Conv2Plus1d, ConvNormAct, ConvTranspose, DepthwiseConv, DepthwiseSeparableConv,
                            DilatedConv, DropPath, PointwiseConv, SpatiallySeparableConv, SqueezeExcite,
                            conv_of, midplanes)
from convzoo.layers.padding import tf_same_pad_amounts
from convzoo.reference import conv_nd, conv_transpose_nd

from _oracles import (SETTINGS, FCONV, FCONV_T, SIZES, npy, np_relu, np_sigmoid, np_silu, NP_ACT,
                      F_ACT, np_bn, f_bn, np_conv, f_conv, randomize, inputs, assert_close)


# --- ConvNormAct, DepthwiseConv, PointwiseConv ----------------------------------------------------

@st.composite
def conv_cfg(draw):
    dims = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 2, 3]))
    k = draw(st.sampled_from([1, 3, 5]))
    s = draw(st.integers(1, 3))
    d = draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["same", "valid", 0, 1, 2]))
    size = tuple(draw(st.integers(d * (k - 1) + 1, d * (k - 1) + {1: 9, 2: 5, 3: 3}[dims]))
                 for _ in range(dims))
    return dict(dims=dims, groups=groups, c_in=groups * draw(st.integers(1, 2)),
                c_out=groups * draw(st.integers(1, 2)), k=k, s=s, d=d, padding=padding, size=size,
                batch=draw(st.sampled_from([1, 2])), bias=draw(st.booleans()))


@SETTINGS
@given(conv_cfg())
def test_conv_norm_act_plain_conv(cfg):
    m = randomize(ConvNormAct(cfg["c_in"], cfg["c_out"], cfg["k"], cfg["s"], cfg["padding"], cfg["d"],
                              cfg["groups"], cfg["bias"], dims=cfg["dims"], norm=None, act_layer=None))
    x, xt = inputs(cfg["c_in"], cfg["dims"], cfg["batch"], cfg["size"])
    p = {"same": (cfg["k"] - 1) // 2 * cfg["d"], "valid": 0}.get(cfg["padding"], cfg["padding"])
    c = m.conv
    assert c.padding == (p,) * cfg["dims"]
    ref_np = conv_nd(x, npy(c.weight), None if c.bias is None else npy(c.bias), cfg["s"], p, cfg["d"],
                     cfg["groups"])
    ref_f = FCONV[cfg["dims"]](xt, c.weight, c.bias, cfg["s"], p, cfg["d"], cfg["groups"])
    out = m(xt)
    assert_close(out, ref_np)
    assert_close(out, ref_f)
    if cfg["padding"] == "same":   # the promise of "same": ceil(size / stride)
        assert out.shape[2:] == tuple(math.ceil(i / cfg["s"]) for i in cfg["size"])


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("act", [nn.ReLU, nn.ReLU6, nn.SiLU])
def test_conv_norm_act_with_bn(dims, act):
    m = randomize(ConvNormAct(4, 6, 3, 2, dilation=2, dims=dims, act_layer=act))
    assert m.conv.bias is None                       # a norm follows: no conv bias
    x, xt = inputs(4, dims)
    ref_np = NP_ACT[act](np_bn(np_conv(x, m.conv), m.norm))
    ref_f = F_ACT[act](f_bn(f_conv(xt, m.conv), m.norm))
    assert_close(m(xt), ref_np)
    assert_close(m(xt), ref_f)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("k,s,d", [(3, 2, 1), (5, 2, 1), (4, 2, 1), (3, 3, 2), (2, 1, 1)])
def test_conv_norm_act_tf_same(dims, k, s, d):
    m = randomize(ConvNormAct(3, 4, k, s, "tf_same", d, bias=True, dims=dims, norm=None, act_layer=None))
    x, xt = inputs(3, dims)
    pads = tf_same_pad_amounts(x.shape[2:], (k,) * dims, (s,) * dims, (d,) * dims)   # last axis first
    np_pad = [(0, 0), (0, 0)] + [(pads[2 * j], pads[2 * j + 1]) for j in reversed(range(dims))]
    c = conv_of(m.conv)
    ref = conv_nd(np.pad(x, np_pad), npy(c.weight), npy(c.bias), s, 0, d)
    out = m(xt)
    assert out.shape[2:] == tuple(math.ceil(i / s) for i in x.shape[2:])   # TF "SAME"
    assert_close(out, ref)
    assert_close(out, f_conv(F.pad(xt, pads), c))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("k,d", [(2, 1), (4, 1), (4, 2)])
def test_even_kernel_same_padding_at_stride_1(dims, k, d):
    """PyTorch pads an even kernel asymmetrically: (d(k-1)) // 2 before, the rest after."""
    m = randomize(ConvNormAct(3, 4, k, 1, "same", d, bias=True, dims=dims, norm=None, act_layer=None))
    x, xt = inputs(3, dims)
    total = d * (k - 1)
    padded = np.pad(x, [(0, 0), (0, 0)] + [(total // 2, total - total // 2)] * dims)
    ref = conv_nd(padded, npy(m.conv.weight), npy(m.conv.bias), 1, 0, d)
    assert m(xt).shape == xt.shape[:1] + (4,) + xt.shape[2:]
    assert_close(m(xt), ref)
    if dims > 1:   # the separable chain pads each axis the same way
        sep = randomize(SpatiallySeparableConv(3, 4, k, 1, "same", d, rank=2, dims=dims))
        ref = conv_nd(padded, npy(sep.full_weight()), npy(getattr(sep, "conv_w").bias), 1, 0, d)
        assert_close(sep(xt), ref)


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 4), st.sampled_from([1, 3, 5]), st.integers(1, 2),
       st.integers(1, 2), st.integers(1, 3))
def test_depthwise_conv(dims, channels, k, s, d, mult):
    m = randomize(DepthwiseConv(channels, k, s, dilation=d, depth_multiplier=mult, dims=dims))
    x, xt = inputs(channels, dims, batch=1)
    w = npy(m.conv.weight)
    assert w.shape == (channels * mult, 1) + (k,) * dims
    p = (k - 1) // 2 * d
    assert_close(m(xt), conv_nd(x, w, npy(m.conv.bias), s, p, d, groups=channels))
    assert_close(m(xt), FCONV[dims](xt, m.conv.weight, m.conv.bias, s, p, d, channels))
    assert sum(q.numel() for q in m.parameters()) == channels * mult * (k ** dims + 1)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("groups", [1, 2])
def test_pointwise_conv(dims, groups):
    m = randomize(PointwiseConv(4, 6, groups=groups, dims=dims))
    x, xt = inputs(4, dims)
    w = npy(m.conv.weight).reshape(groups, 6 // groups, 4 // groups)
    xg = x.reshape(x.shape[0], groups, 4 // groups, *x.shape[2:])
    mix = np.einsum("goc,ngc...->ngo...", w, xg).reshape(x.shape[0], 6, *x.shape[2:])   # channel mix only
    ref = mix + npy(m.conv.bias).reshape((1, 6) + (1,) * dims)
    assert_close(m(xt), ref)
    assert_close(m(xt), np_conv(x, m.conv))
    assert_close(m(xt), f_conv(xt, m.conv))


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("stride,dilation,mult", [(1, 1, 1), (2, 1, 2), (1, 2, 1)])
def test_depthwise_separable(dims, stride, dilation, mult):
    m = randomize(DepthwiseSeparableConv(3, 5, 3, stride, dilation=dilation, dims=dims,
                                         depth_multiplier=mult))
    x, xt = inputs(3, dims)
    h = np_relu(np_bn(np_conv(x, m.dw.conv), m.dw.norm))
    ref_np = np_relu(np_bn(np_conv(h, m.pw.conv), m.pw.norm))
    ht = F.relu(f_bn(f_conv(xt, m.dw.conv), m.dw.norm))
    ref_f = F.relu(f_bn(f_conv(ht, m.pw.conv), m.pw.norm))
    assert_close(m(xt), ref_np)
    assert_close(m(xt), ref_f)


# --- DilatedConv ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("k,d,s,groups", [(3, 2, 1, 1), (3, 3, 2, 2), (5, 2, 1, 1), (3, 1, 1, 2)])
def test_dilated_conv(dims, k, d, s, groups):
    m = randomize(DilatedConv(4, 6, k, d, s, groups, dims=dims, act_layer=nn.ReLU))
    size = {1: (13,), 2: (9, 8), 3: (7, 6, 7)}[dims]
    x, xt = inputs(4, dims, size=size)
    ref = np_relu(np_bn(conv_nd(x, npy(m.conv.weight), None, s, (k - 1) // 2 * d, d, groups), m.norm))
    assert_close(m(xt), ref)
    assert_close(m(xt), F.relu(f_bn(f_conv(xt, m.conv), m.norm)))
    assert m(xt).shape[2:] == tuple(math.ceil(i / s) for i in size)
    assert m.effective_kernel_size == (k + (k - 1) * (d - 1),) * dims


def test_dilated_stack_receptive_field_yu_koltun_table1():
    """Context module of Yu & Koltun 2016, Table 1: receptive field 3, 5, 9, 17, 33, 65, 67, 67, measured
    as the support of the stack's response to one impulse, with the NumPy oracle."""
    layers = [(3, 1), (3, 1), (3, 2), (3, 4), (3, 8), (3, 16), (3, 1), (1, 1)]
    size = 75
    x = np.zeros((1, 1, size, size))
    x[0, 0, size // 2, size // 2] = 1.0
    xt = torch.from_numpy(x)
    rf = []
    for k, d in layers:
        m = DilatedConv(1, 1, k, d, bias=False, norm=None, act_layer=None).double()
        nn.init.ones_(m.conv.weight)
        x = conv_nd(x, npy(m.conv.weight), None, 1, (k - 1) // 2 * d, d)
        xt = m(xt)
        rows = np.flatnonzero(np.abs(x[0, 0]).sum(1))
        rf.append(int(rows[-1] - rows[0] + 1))
        assert_close(xt, x)
    assert rf == [3, 5, 9, 17, 33, 65, 67, 67]


# --- SpatiallySeparableConv ------------------------------------------------------------------------

@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("k,s,d,padding,rank", [(3, 1, 1, "same", 1), (5, 2, 1, "same", 2),
                                                (3, 2, 2, 1, 3), (3, 1, 1, "valid", 2),
                                                ((3, 5, 3), (1, 2, 1), 1, "same", 4)])
def test_spatially_separable_is_full_conv_of_its_weight(dims, k, s, d, padding, rank):
    if isinstance(k, tuple):
        k, s = k[-dims:], s[-dims:]
    m = randomize(SpatiallySeparableConv(3, 4, k, s, padding, d, rank=rank, dims=dims))
    names = ["conv_h", "conv_w"] if dims == 2 else ["conv_d", "conv_h", "conv_w"]
    assert [n for n, _ in m.named_children()] == names
    for axis, n in enumerate(names):                     # one 1D factor per axis
        assert sum(v > 1 for v in getattr(m, n).kernel_size) <= 1
    x, xt = inputs(3, dims)
    w = npy(m.full_weight())
    kk = w.shape[2:]
    kt = (k,) * dims if isinstance(k, int) else k
    st_ = (s,) * dims if isinstance(s, int) else s
    assert kk == kt
    p = {"same": tuple((ki - 1) // 2 * d for ki in kt), "valid": 0}.get(padding, padding)
    ref = conv_nd(x, w, npy(getattr(m, names[-1]).bias), st_, p, d)
    assert_close(m(xt), ref)
    assert_close(m(xt), FCONV[dims](xt, m.full_weight(), getattr(m, names[-1]).bias, st_, p, d))
    kw = 3 * rank * kt[0] + (rank * rank * kt[1] if dims == 3 else 0) + rank * 4 * kt[-1] + 4
    assert sum(q.numel() for q in m.parameters()) == kw


@pytest.mark.parametrize("dims", [2, 3])
def test_from_conv_rank1_exact(dims):
    g = torch.Generator().manual_seed(0)
    # W[o, i] = p[o] q[i] (u v^T): every kernel separable and the channel mixing rank 1.
    p, q = torch.randn(5, generator=g), torch.randn(3, generator=g)
    axes = [torch.randn(3, generator=g) for _ in range(dims)]
    kern = axes[0][:, None] * axes[1][None] if dims == 2 else torch.einsum("a,b,c->abc", *axes)
    conv = (nn.Conv2d if dims == 2 else nn.Conv3d)(3, 5, 3, padding=1)
    conv.weight.data = (p[:, None] * q[None])[(...,) + (None,) * dims] * kern
    m = SpatiallySeparableConv.from_conv(conv, rank=1)
    assert m.approximation_error < 1e-6
    x = torch.randn(2, 3, *SIZES[dims])
    torch.testing.assert_close(m(x), conv(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dims,stride,padding,dilation", [(2, 1, 1, 1), (2, 2, 1, 1), (2, 1, "same", 2),
                                                          (3, 1, 1, 1), (3, 2, 0, 1)])
def test_from_conv_error_falls_with_rank_and_vanishes_at_full_rank(dims, stride, padding, dilation):
    torch.manual_seed(0)
    conv = (nn.Conv2d if dims == 2 else nn.Conv3d)(3, 4, 3, stride, padding, dilation)
    full = SpatiallySeparableConv.max_rank(3, 4, (3,) * dims)
    errors = [SpatiallySeparableConv.from_conv(conv, r).approximation_error for r in range(1, full + 1)]
    assert all(a > b for a, b in zip(errors, errors[1:]))           # strictly decreasing
    assert errors[0] > 0.3 and errors[-1] < 1e-6
    if dims == 2:
        # Eckart-Young: the error is the SVD tail of the (C_in*kh) x (C_out*kw) weight matrix.
        w = conv.weight.detach().double().permute(1, 2, 0, 3).reshape(9, 12)
        s = torch.linalg.svdvals(w)
        tail = [float(torch.sqrt((s[r:] ** 2).sum() / (s ** 2).sum())) for r in range(1, full + 1)]
        np.testing.assert_allclose(errors, tail, atol=1e-6)
    m = SpatiallySeparableConv.from_conv(conv)                       # rank=None: exact
    x = torch.randn(1, 3, *SIZES[dims])
    torch.testing.assert_close(m(x), conv(x), rtol=1e-4, atol=1e-5)


# --- Conv2Plus1d -------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_in,n_out,expected", [(64, 64, 144), (64, 128, 230), (128, 128, 288),
                                                 (128, 256, 460), (256, 256, 576), (256, 512, 921),
                                                 (512, 512, 1152)])
def test_midplanes_matches_r2plus1d(n_in, n_out, expected):
    """M_i of Tran et al. 2018 Sec. 3.5 (paper_tables.md section 9), at t = d = 3: the widths of
    torchvision's r2plus1d_18 blocks."""
    assert midplanes(n_in, n_out) == expected
    # ... and it is the floor that matches the parameter count of the full t x d x d conv.
    m = expected
    full, factored = 27 * n_in * n_out, m * (9 * n_in + 3 * n_out)
    assert factored <= full < (m + 1) * (9 * n_in + 3 * n_out)


def test_midplanes_stem():
    # paper_tables.md section 9: the 3 x 7 x 7 stem (3 -> 64) gets M = 83 by the formula.
    assert midplanes(3, 64, t=3, d=7) == 83


@pytest.mark.parametrize("stride", [1, 2, (2, 1, 1)])
def test_conv2plus1d(stride):
    m = randomize(Conv2Plus1d(3, 5, 3, stride))
    assert m.mid_channels == midplanes(3, 5)
    x, xt = inputs(3, 3, size=(5, 6, 7))
    h = np_relu(np_bn(np_conv(x, m.spatial), m.norm))
    ref = np_conv(h, m.temporal)
    assert_close(m(xt), ref)
    ref_f = f_conv(F.relu(f_bn(f_conv(xt, m.spatial), m.norm)), m.temporal)
    assert_close(m(xt), ref_f)
    assert m.spatial.kernel_size == (1, 3, 3) and m.temporal.kernel_size == (3, 1, 1)


# --- SqueezeExcite, DropPath --------------------------------------------------------------------------

@pytest.mark.parametrize("dims", [1, 2, 3])
def test_squeeze_excite(dims):
    m = randomize(SqueezeExcite(8, 2, dims=dims))
    x, xt = inputs(8, dims)
    s = x.mean(axis=tuple(range(2, x.ndim)))                               # (N, C)
    r, e = m.reduce, m.expand
    s = np_silu(s @ npy(r.weight).reshape(2, 8).T + npy(r.bias))
    s = np_sigmoid(s @ npy(e.weight).reshape(8, 2).T + npy(e.bias))
    ref = x * s.reshape(s.shape + (1,) * dims)
    assert_close(m(xt), ref)
    z = xt.mean(dim=tuple(range(2, xt.dim())), keepdim=True)
    ref_f = xt * torch.sigmoid(f_conv(F.silu(f_conv(z, r)), e))
    assert_close(m(xt), ref_f)


def test_drop_path_identity_in_eval():
    m = DropPath(0.5).eval()
    x = torch.randn(8, 3, 4, 4)
    assert torch.equal(m(x), x)


def test_drop_path_per_sample_mask_and_scaling():
    p, n = 0.3, 4000
    torch.manual_seed(123)
    m = DropPath(p).train()
    x = torch.ones(n, 3, 2, 2)
    y = m(x)
    per_sample = y.reshape(n, -1)
    # Whole samples are kept or dropped: every value of a sample is equal ...
    assert torch.all(per_sample == per_sample[:, :1])
    values = per_sample[:, 0].unique().tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1 / (1 - p))
    # ... survivors are scaled by 1 / (1 - p) and the keep rate is 1 - p (binomial, 4 sigma).
    kept = (per_sample[:, 0] > 0).double().mean().item()
    assert abs(kept - (1 - p)) < 4 * math.sqrt(p * (1 - p) / n)
    assert abs(y.mean().item() - 1.0) < 4 * math.sqrt(p / (1 - p) / n)   # unbiased in expectation
    torch.testing.assert_close(per_sample[per_sample[:, 0] > 0], torch.full_like(
        per_sample[per_sample[:, 0] > 0], 1 / (1 - p)))


# --- ConvTranspose ------------------------------------------------------------------------------------

@SETTINGS
@given(st.integers(1, 3), st.sampled_from([1, 2]), st.sampled_from([1, 2, 3, 4]), st.integers(1, 3),
       st.integers(0, 1), st.integers(1, 2))
def test_conv_transpose_matches_oracle_and_torch(dims, groups, k, s, p, d):
    m = randomize(ConvTranspose(2 * groups, 3 * groups, k, s, p, groups=groups, dilation=d, dims=dims))
    size = {1: (5,), 2: (4, 3), 3: (3, 2, 3)}[dims]
    x, xt = inputs(2 * groups, dims, size=size)
    w, b = npy(m.conv.weight), npy(m.conv.bias)
    lo_hi = m.output_size_range(size)
    for extra in range(s):
        target = tuple(lo + extra for lo, _ in lo_hi)
        if any(t < 1 for t in target):
            continue
        out = m(xt, output_size=target)
        assert tuple(out.shape[2:]) == target
        op = (extra,) * dims
        for method in ("scatter", "matrix"):
            assert_close(out, conv_transpose_nd(x, w, b, s, p, op, d, groups, method=method))
        assert_close(out, FCONV_T[dims](xt, m.conv.weight, m.conv.bias, s, p, op, groups, d))
        # PyTorch's own module picks the same output_padding from output_size.
        assert_close(out, m.conv(xt, output_size=list(target)))


def test_conv_transpose_inverts_conv_shape():
    """The user's case: upsample back to the exact size a strided conv came from, odd sizes included."""
    down = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    up = ConvTranspose(8, 3, 3, stride=2, padding=1)
    for h, w in [(7, 8), (9, 9), (16, 15)]:
        x = torch.randn(1, 3, h, w)
        assert up(down(x), output_size=x.shape).shape == x.shape


def test_conv_transpose_unreachable_size_lists_reachable_sizes():
    m = ConvTranspose(4, 2, 3, stride=2, padding=1)
    x = torch.randn(1, 4, 5, 6)
    with pytest.raises(ValueError, match=r"output_size \(12, 11\) is not reachable.*9\.\.10 along H, "
                                         r"11\.\.12 along W"):
        m(x, output_size=(12, 11))
    with pytest.raises(ValueError, match="2 spatial sizes"):
        m(x, output_size=(9, 11, 3))
    with pytest.raises(ValueError, match="expected 4 input channels, got 3"):
        m(torch.randn(1, 3, 5, 6))
    with pytest.raises(ValueError, match="output_padding must be in"):
        ConvTranspose(4, 2, 3, stride=2, output_padding=2)


# --- bad input ----------------------------------------------------------------------------------------

def test_bad_input_messages():
    with pytest.raises(ValueError, match="DepthwiseSeparableConv expected 32 input channels, got 3"):
        DepthwiseSeparableConv(32, 64)(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="groups=3 does not divide in_channels=32"):
        ConvNormAct(32, 64, groups=3)
    with pytest.raises(ValueError, match="groups=4 does not divide out_channels=6"):
        ConvNormAct(8, 6, groups=4)
    with pytest.raises(ValueError, match=r'padding="same" needs an odd kernel when stride > 1'):
        ConvNormAct(8, 8, kernel_size=4, stride=2)
    with pytest.raises(ValueError, match="dims must be 1, 2 or 3, got 4"):
        ConvNormAct(8, 8, dims=4)
    with pytest.raises(ValueError, match="expected a 4-D input"):
        ConvNormAct(3, 8)(torch.randn(3, 8, 8))
    with pytest.raises(ValueError, match="MBConv expected 16 input channels, got 8"):
        MBConv(16, 16)(torch.randn(1, 8, 4, 4))
    with pytest.raises(ValueError, match="SpatiallySeparableConv factors a conv over 2 or 3 spatial axes, "
                                         "got dims=1"):
        SpatiallySeparableConv(4, 4, 3, dims=1)
    with pytest.raises(ValueError, match="SpatiallySeparableConv expected 4 input channels, got 5"):
        SpatiallySeparableConv(4, 4, 3)(torch.randn(1, 5, 6, 6))
    with pytest.raises(ValueError, match=r"rank must be an int in \[1, 9\]"):
        SpatiallySeparableConv.from_conv(nn.Conv2d(3, 4, 3), rank=10)
    with pytest.raises(ValueError, match="groups=1, got groups=2"):
        SpatiallySeparableConv.from_conv(nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(TypeError, match="expects an nn.Conv2d or nn.Conv3d, got Linear"):
        SpatiallySeparableConv.from_conv(nn.Linear(3, 4))
    with pytest.raises(ValueError, match="dims must be 1, 2 or 3, got 0"):
        ConvTranspose(4, 4, 3, dims=0)
