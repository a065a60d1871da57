"""convzoo.analysis: exact MACs/params against closed forms written from the papers, against
torch.utils.flop_counter.FlopCounterMode, conv arithmetic against Dumoulin & Visin and torch's own
layers, receptive fields against Yu & Koltun and against autograd's gradient support."""
from __future__ import annotations

from math import prod

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convzoo.analysis import (profile, separable_cost_ratio)
from convzoo.blocks import ConvNeXtBlock, FusedMBConv, MBConv
from convzoo.layers import (Conv2Plus1d, ConvNormAct, ConvTranspose, DepthwiseConv, DepthwiseSeparableConv,
                            PointwiseConv, SpatiallySeparableConv, SqueezeExcite)

from _oracles import CONV, CONVT, torch_flops


# --------------------------------------------------------------------------------------------------
# MobileNetV1 Table 3 (Howard et al. 2017, arXiv:1704.04861): one layer, D_K = 3, M = N = 512, D_F = 14.
# The paper counts weights only (no bias, no BN), so the exact check uses bias-free convs.


def _full(m, n):
    return nn.Conv2d(m, n, 3, padding=1, bias=False)


def _separable(m, n):
    return nn.Sequential(nn.Conv2d(m, m, 3, padding=1, groups=m, bias=False),
                         nn.Conv2d(m, n, 1, bias=False))


@pytest.mark.parametrize("row, make, m, df, macs, params, paper", [
    # Eq. 2: D_K D_K M N D_F D_F ; weights D_K D_K M N
    ("conv", _full, 512, 14, 3 * 3 * 512 * 512 * 14 * 14, 3 * 3 * 512 * 512, (462e6, 2.36e6)),
    # Eq. 5: D_K D_K M D_F D_F + M N D_F D_F ; weights D_K D_K M + M N
    ("separable", _separable, 512, 14, 3 * 3 * 512 * 14 * 14 + 512 * 512 * 14 * 14,
     3 * 3 * 512 + 512 * 512, (52.3e6, 0.27e6)),
    # alpha = 0.75: M = N = 384
    ("alpha0.75", _separable, 384, 14, 3 * 3 * 384 * 14 * 14 + 384 * 384 * 14 * 14,
     3 * 3 * 384 + 384 * 384, (29.6e6, 0.15e6)),
    # rho = 0.714: D_F = 10 (on top of alpha = 0.75)
    ("rho0.714", _separable, 384, 10, 3 * 3 * 384 * 10 * 10 + 384 * 384 * 10 * 10,
     3 * 3 * 384 + 384 * 384, (15.1e6, 0.15e6)),
])
def test_mobilenet_v1_table3(row, make, m, df, macs, params, paper):
    p = profile(make(m, m), (m, df, df))
    assert p.macs == macs
    assert p.params == params
    assert p.flops == 2 * macs
    # the paper's rounded figures (M Mult-Adds / M params)
    assert round(p.macs / 1e6, 1 if p.macs < 100e6 else 0) == paper[0] / 1e6
    assert round(p.params / 1e6, 2) == paper[1] / 1e6


def test_mobilenet_v1_table3_exact_integers():
    assert profile(_full(512, 512), (512, 14, 14)).macs == 462_422_016
    assert profile(_separable(512, 512), (512, 14, 14)).macs == 52_283_392
    assert profile(_separable(512, 512), (512, 14, 14)).params == 266_752


def test_depthwise_separable_layer_counts_bn_params_but_not_bn_macs():
    # convzoo's DepthwiseSeparableConv with BN: the convs have no bias; each BN adds 2 * C params
    # (gamma, beta) and, by convention, no MACs.
    layer = DepthwiseSeparableConv(512, 512, 3, norm="batch")
    p = profile(layer, (512, 14, 14))
    assert p.macs == 52_283_392
    assert p.params == 266_752 + 2 * 512 + 2 * 512
    assert "native_batch_norm" in p.zero_mac_ops or "_native_batch_norm_legit_no_training" in p.zero_mac_ops
    assert p.uncounted == []


@pytest.mark.parametrize("k, n", [(3, 32), (3, 512), (5, 64), (7, 128), ((3, 5), 16)])
def test_separable_cost_ratio_matches_measured(k, n):
    m, hw = 24, 9
    kk = (k, k) if isinstance(k, int) else k
    pad = tuple(v // 2 for v in kk)
    full = nn.Conv2d(m, n, kk, padding=pad, bias=False)
    sep = nn.Sequential(nn.Conv2d(m, m, kk, padding=pad, groups=m, bias=False),
                        nn.Conv2d(m, n, 1, bias=False))
    pf, ps = profile(full, (m, hw, hw)), profile(sep, (m, hw, hw))
    assert ps.macs / pf.macs == pytest.approx(separable_cost_ratio(k, n), rel=1e-12)
    assert ps.params / pf.params == pytest.approx(separable_cost_ratio(k, n), rel=1e-12)
    assert separable_cost_ratio(k, n) == pytest.approx(1 / n + 1 / prod(kk))


def test_separable_cost_ratio_rejects_bad_input():
    with pytest.raises(ValueError, match="n >= 1"):
        separable_cost_ratio(3, 0)


# --------------------------------------------------------------------------------------------------
# Closed forms for every layer in convzoo.layers, written from the formulas.

@pytest.mark.parametrize("dims, cin, cout, k, s, d, g, bias, size", [
    (1, 4, 6, 5, 2, 1, 2, True, (17,)),
    (2, 6, 9, 3, 1, 2, 3, False, (11, 7)),
    (2, 8, 8, (3, 5), (2, 1), 1, 8, True, (9, 10)),
    (3, 4, 8, 3, (1, 2, 2), 1, 4, False, (5, 7, 6)),
    (3, 2, 6, (3, 1, 1), 1, (2, 1, 1), 1, True, (6, 3, 3)),
])
def test_conv_norm_act_closed_form(dims, cin, cout, k, s, d, g, bias, size):
    layer = ConvNormAct(cin, cout, k, s, dilation=d, groups=g, bias=bias, dims=dims, norm="batch")
    p = profile(layer, (cin, *size), batch_size=2)
    y = layer.eval()(torch.randn(2, cin, *size))
    kk = (k,) * dims if isinstance(k, int) else k
    # weight C_out * C_in/g * prod(k) (+ C_out bias) + BN gamma/beta
    assert p.params == cout * (cin // g) * prod(kk) + (cout if bias else 0) + 2 * cout
    # every output element is a dot product of length C_in/g * prod(k); batch of 2
    assert p.macs == 2 * cout * prod(y.shape[2:]) * (cin // g) * prod(kk)
    assert p.output_shape == tuple(y.shape)
    assert torch_flops(layer, torch.randn(2, cin, *size)) == 2 * p.macs


@settings(max_examples=40, deadline=None)
@given(dims=st.integers(1, 3), groups=st.sampled_from([1, 2, 3]), cin_g=st.integers(1, 3),
       cout_g=st.integers(1, 3), k=st.integers(1, 4), s=st.integers(1, 3), d=st.integers(1, 2),
       p=st.integers(0, 2), transposed=st.booleans(), n=st.integers(1, 2), data=st.data())
def test_conv_macs_generated_against_closed_form_and_flop_counter(dims, groups, cin_g, cout_g, k, s, d,
                                                                   p, transposed, n, data):
    cin, cout = cin_g * groups, cout_g * groups
    lo = (k - 1) * d + 1                                 # smallest input the forward conv accepts
    size = tuple(data.draw(st.integers(max(lo - 2 * p, 1), lo + 5)) for _ in range(dims))
    if transposed:
        op = data.draw(st.integers(0, max(s, d) - 1))
        if any((i - 1) * s - 2 * p + d * (k - 1) + 1 + op < 1 for i in size):
            return                                       # no output: torch rejects it
        layer = CONVT[dims](cin, cout, k, s, p, op, groups, True, d)
    else:
        layer = CONV[dims](cin, cout, k, s, p, d, groups, True)
    x = torch.randn(n, cin, *size)
    prof = profile(layer, x)
    y = layer(x)
    if transposed:       # each input element times its (C_out/g) x k^dims kernel slice
        closed = n * cin * prod(size) * (cout // groups) * k ** dims
    else:                # each output element is a dot product of length (C_in/g) k^dims
        closed = n * cout * prod(y.shape[2:]) * (cin // groups) * k ** dims
    assert prof.macs == closed
    assert 2 * prof.macs == torch_flops(layer, x)
    assert prof.params == cin * cout // groups * k ** dims + cout
    assert prof.output_shape == tuple(y.shape)


def test_conv_tf_same_padding_wrapper_is_counted():
    layer = ConvNormAct(3, 8, 3, 2, padding="tf_same", norm=None, act_layer=None)
    p = profile(layer, (3, 15, 15))
    assert p.macs == 8 * 8 * 8 * 3 * 9             # output 8x8 = ceil(15 / 2)
    assert p.params == 8 * 3 * 9 + 8


@pytest.mark.parametrize("dims, c, k, s, mult", [(1, 6, 7, 1, 1), (2, 8, 3, 2, 2), (3, 4, 3, 1, 1)])
def test_depthwise_conv_closed_form(dims, c, k, s, mult):
    size = (9,) * dims
    layer = DepthwiseConv(c, k, s, depth_multiplier=mult, dims=dims)   # bias (no norm)
    p = profile(layer, (c, *size))
    so = prod(-(-9 // s) for _ in range(dims))                          # "same": ceil(9 / s)
    # MobileNetV1 Eq. 4 (times the depth multiplier): D_K^dims * M * m * D_F'^dims
    assert p.macs == k ** dims * c * mult * so
    assert p.params == k ** dims * c * mult + c * mult


@pytest.mark.parametrize("dims, cin, cout, g", [(1, 8, 12, 1), (2, 8, 12, 4), (3, 6, 3, 3)])
def test_pointwise_conv_closed_form(dims, cin, cout, g):
    size = (5,) * dims
    p = profile(PointwiseConv(cin, cout, groups=g, dims=dims, bias=False), (cin, *size))
    assert p.macs == cin // g * cout * 5 ** dims
    assert p.params == cin // g * cout


@pytest.mark.parametrize("dims, m, n, k, s", [(1, 8, 16, 5, 2), (2, 16, 32, 3, 1), (3, 4, 8, 3, 2)])
def test_depthwise_separable_closed_form(dims, m, n, k, s):
    size = (8,) * dims
    p = profile(DepthwiseSeparableConv(m, n, k, s, dims=dims), (m, *size))
    df = prod(-(-8 // s) for _ in range(dims))
    # MobileNetV1 Eq. 5 on the output grid: D_K^d M D_F^d + M N D_F^d ; params: weights + 2 BNs
    assert p.macs == k ** dims * m * df + m * n * df
    assert p.params == k ** dims * m + m * n + 2 * m + 2 * n


@pytest.mark.parametrize("cin, cout, t, d, s, size", [
    (4, 8, 3, 3, 1, (4, 6, 6)), (8, 16, 3, 3, (2, 2, 2), (4, 8, 8)), (3, 5, 3, 5, 1, (3, 7, 7))])
def test_conv2plus1d_closed_form(cin, cout, t, d, s, size):
    layer = Conv2Plus1d(cin, cout, (t, d, d), s)
    # Tran et al. 2018 Sec. 3.5: M = floor(t d^2 N_{i-1} N_i / (d^2 N_{i-1} + t N_i))
    mid = (t * d * d * cin * cout) // (d * d * cin + t * cout)
    assert layer.mid_channels == mid
    p = profile(layer, (cin, *size))
    st, sh, sw = (s,) * 3 if isinstance(s, int) else s
    to, ho, wo = -(-size[0] // st), -(-size[1] // sh), -(-size[2] // sw)
    assert p.params == cin * mid * d * d + 2 * mid + mid * cout * t          # no conv bias; one BN
    assert p.macs == size[0] * ho * wo * mid * cin * d * d + to * ho * wo * cout * mid * t
    assert torch_flops(layer, torch.randn(1, cin, *size)) == 2 * p.macs


@pytest.mark.parametrize("dims, c, sq", [(1, 16, 4), (2, 32, 8), (3, 12, 3)])
def test_squeeze_excite_closed_form(dims, c, sq):
    p = profile(SqueezeExcite(c, sq, dims=dims), (c, *(6,) * dims))
    # the 1x1 convs act on the pooled 1x1 map: C*sq + sq*C MACs; the pool, gate and scaling are not MACs
    assert p.macs == c * sq + sq * c
    assert p.params == c * sq + sq + sq * c + c
    assert {"mean", "sigmoid", "mul"} <= set(p.zero_mac_ops)


@pytest.mark.parametrize("d1, d2, t, k, s, se, h", [
    (16, 16, 6, 3, 1, 0.0, 12), (16, 24, 6, 3, 2, 0.0, 12), (24, 40, 4, 5, 2, 0.25, 10),
    (32, 32, 1, 3, 1, 0.25, 8)])
def test_mbconv_closed_form(d1, d2, t, k, s, se, h):
    layer = MBConv(d1, d2, expand_ratio=t, kernel_size=k, stride=s, se_ratio=se)
    p = profile(layer, (d1, h, h))
    hid, ho = d1 * t, -(-h // s)
    sq = max(1, int(d1 * se))                       # SE width from the block input (official code)
    se_macs = 2 * hid * sq if se else 0
    se_params = hid * sq + sq + sq * hid + hid if se else 0
    expand_macs = h * h * d1 * hid if t != 1 else 0
    if s == 1:
        # MobileNetV2 Table 1: h w d' t (d' + k^2 + d'')  (d' = in, d'' = out, no expand when t = 1)
        closed = h * h * d1 * t * (d1 + k * k + d2) - (h * h * d1 * d1 if t == 1 else 0)
        assert p.macs == closed + se_macs
    assert p.macs == expand_macs + ho * ho * hid * k * k + ho * ho * hid * d2 + se_macs
    expand_params = d1 * hid + 2 * hid if t != 1 else 0
    assert p.params == expand_params + k * k * hid + 2 * hid + se_params + hid * d2 + 2 * d2
    assert torch_flops(layer, torch.randn(1, d1, h, h)) == 2 * p.macs


@pytest.mark.parametrize("cin, cout, t, k, s, h", [(16, 16, 4, 3, 1, 10), (16, 32, 4, 3, 2, 10),
                                                   (24, 24, 1, 3, 1, 8)])
def test_fused_mbconv_closed_form(cin, cout, t, k, s, h):
    layer = FusedMBConv(cin, cout, expand_ratio=t, kernel_size=k, stride=s)
    p = profile(layer, (cin, h, h))
    ho = -(-h // s)
    if t == 1:           # the k x k conv alone, straight to the output width
        assert p.macs == ho * ho * cout * cin * k * k
        assert p.params == cout * cin * k * k + 2 * cout
    else:                # fused k x k to t*C_in, then 1x1 projection
        hid = cin * t
        assert p.macs == ho * ho * hid * cin * k * k + ho * ho * hid * cout
        assert p.params == hid * cin * k * k + 2 * hid + hid * cout + 2 * cout


@pytest.mark.parametrize("dims, c, k, size", [(2, 32, 7, (14, 14)), (1, 16, 7, (20,)), (3, 8, 3, (4, 5, 5))])
def test_convnext_block_closed_form(dims, c, k, size):
    layer = ConvNeXtBlock(c, kernel_size=k, dims=dims)
    p = profile(layer, (c, *size))
    s, kd = prod(size), k ** dims
    # dw k^d C + LN + Linear C->4C + Linear 4C->C, per position; layer scale and residual are not MACs
    assert p.macs == s * (kd * c + 4 * c * c + 4 * c * c)
    # dw (k^d C + C) + LN 2C + (4C^2 + 4C) + (4C^2 + C) + gamma C
    assert p.params == kd * c + c + 2 * c + 4 * c * c + 4 * c + 4 * c * c + c + c
    assert torch_flops(layer, torch.randn(1, c, *size)) == 2 * p.macs


@pytest.mark.parametrize("dims, cin, cout, k, s, p_, op, d, g, size", [
    (1, 4, 6, 4, 2, 1, 0, 1, 1, (9,)),
    (2, 6, 4, 3, 2, 1, 1, 1, 2, (7, 5)),
    (2, 3, 5, (3, 2), (3, 2), 0, (2, 1), (1, 2), 1, (4, 6)),
    (3, 4, 4, 3, (1, 2, 2), 1, (0, 1, 1), 1, 4, (3, 4, 4)),
])
def test_torch_transposed_conv_closed_form(dims, cin, cout, k, s, p_, op, d, g, size):
    layer = CONVT[dims](cin, cout, k, s, p_, op, g, True, d)
    x = torch.randn(1, cin, *size)
    p = profile(layer, x)
    kk = layer.kernel_size
    # every *input* element is multiplied by its kernel slice: C_in * C_out/g * prod(k) * prod(S_in)
    assert p.macs == cin * (cout // g) * prod(kk) * prod(size)
    assert p.params == cin * (cout // g) * prod(kk) + cout
    assert torch_flops(layer, x) == 2 * p.macs


@pytest.mark.parametrize("cin, cout, k, s, rank, size", [
    (8, 16, 5, 1, 1, (12, 12)), (6, 4, (3, 5), (2, 1), 3, (9, 10)), (4, 8, 3, 2, 2, (7, 7))])
def test_spatially_separable_conv_closed_form(cin, cout, k, s, rank, size):
    layer = SpatiallySeparableConv(cin, cout, k, s, rank=rank)
    kh, kw = (k, k) if isinstance(k, int) else k
    sh, sw = (s, s) if isinstance(s, int) else s
    h, w = size
    ho, wo = -(-h // sh), -(-w // sw)
    p = profile(layer, (cin, h, w))
    # k x 1 (stride along H only): rank * C_in * kh on H' x W ; then 1 x k: C_out * rank * kw on H' x W'
    assert p.macs == rank * cin * kh * ho * w + cout * rank * kw * ho * wo
    assert p.params == rank * cin * kh + cout * rank * kw + cout        # bias on the last conv only
    assert torch_flops(layer, torch.randn(1, cin, h, w)) == 2 * p.macs


def test_spatially_separable_conv_3d_closed_form():
    cin, cout, k, r, (d, h, w) = 4, 6, 3, 5, (4, 6, 6)
    layer = SpatiallySeparableConv(cin, cout, k, rank=r, bias=False, dims=3)
    p = profile(layer, (cin, d, h, w))
    # k x 1 x 1 (C_in -> r), 1 x k x 1 (r -> r), 1 x 1 x k (r -> C_out), all at D x H x W
    assert p.macs == d * h * w * (r * cin * k + r * r * k + cout * r * k)
    assert p.params == r * cin * k + r * r * k + cout * r * k


@pytest.mark.parametrize("dims, cin, cout, k, s, pad, g, size, out", [
    (1, 4, 6, 4, 2, 1, 2, (9,), 19),
    (2, 6, 4, 3, 2, 1, 2, (7, 5), (14, 10)),
    (3, 4, 8, 3, (1, 2, 2), 1, 4, (3, 4, 4), (3, 8, 8)),
])
def test_convzoo_conv_transpose_closed_form(dims, cin, cout, k, s, pad, g, size, out):
    layer = ConvTranspose(cin, cout, k, s, pad, groups=g, dims=dims)

    class WithOutputSize(nn.Module):          # forward(x, output_size=...) picks output_padding
        def __init__(self):
            super().__init__()
            self.up = layer

        def forward(self, x):
            return self.up(x, output_size=out)

    x = torch.randn(1, cin, *size)
    p = profile(WithOutputSize(), x)
    outs = (out,) * dims if isinstance(out, int) else out
    assert p.output_shape == (1, cout, *outs)
    # every input element times its kernel slice: C_in * C_out/g * prod(k) * prod(S_in)
    assert p.macs == cin * (cout // g) * k ** dims * prod(size)
    assert p.params == cin * (cout // g) * k ** dims + cout
    assert torch_flops(WithOutputSize(), x) == 2 * p.macs
