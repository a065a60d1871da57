"""convzoo.analysis: exact MACs/params against closed forms written from the papers, against
torch.utils.flop_counter.FlopCounterMode, conv arithmetic against Dumoulin & Visin and torch's own
layers, receptive fields against Yu & Koltun and against autograd's gradient support."""
from __future__ import annotations

from math import prod

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import convzoo
from convzoo.analysis import (conv_output_size, conv_transpose_output_size, profile, receptive_field,
                              separable_cost_ratio)
from convzoo.blocks import ConvNeXtBlock, FusedMBConv, MBConv
from convzoo.layers import (Conv2Plus1d, ConvNormAct, ConvTranspose, DepthwiseConv, DepthwiseSeparableConv,
                            PointwiseConv, SpatiallySeparableConv, SqueezeExcite)

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONVT = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def torch_flops(model: nn.Module, x: torch.Tensor) -> int:
    """Independent oracle: PyTorch's FlopCounterMode (2 FLOPs per MAC for convs and matmuls)."""
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    return fc.get_total_flops()


def nparams(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


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


# --------------------------------------------------------------------------------------------------
# Output-size arithmetic: Dumoulin & Visin's 15 relationships (arXiv:1603.07285), each written as in
# the paper and compared with conv_output_size / conv_transpose_output_size.

def _rel(i, k, s, p, d=1):
    return conv_output_size(i, k, s, p, d)


RELATIONS = {
    1: (lambda i, k: (i - k) + 1, lambda i, k: _rel(i, k, 1, 0)),
    2: (lambda i, k, p: (i - k) + 2 * p + 1, lambda i, k, p: _rel(i, k, 1, p)),
    3: (lambda i, k: i, lambda i, k: _rel(i, k, 1, k // 2)),                         # k odd
    4: (lambda i, k: i + (k - 1), lambda i, k: _rel(i, k, 1, k - 1)),
    5: (lambda i, k, s: (i - k) // s + 1, lambda i, k, s: _rel(i, k, s, 0)),
    6: (lambda i, k, s, p: (i + 2 * p - k) // s + 1, lambda i, k, s, p: _rel(i, k, s, p)),
    7: (lambda i, k, s: (i - k) // s + 1, lambda i, k, s: _rel(i, k, s, 0)),           # pooling
    # transposed: i' is the forward conv's output size; o' must give back the forward input size
    8: (lambda i, k: i + (k - 1), lambda i, k: conv_transpose_output_size(i, k, 1, 0)),
    9: (lambda i, k, p: i + (k - 1) - 2 * p, lambda i, k, p: conv_transpose_output_size(i, k, 1, p)),
    10: (lambda i, k: i, lambda i, k: conv_transpose_output_size(i, k, 1, k // 2)),
    11: (lambda i, k: i - (k - 1), lambda i, k: conv_transpose_output_size(i, k, 1, k - 1)),
    12: (lambda i, k, s: s * (i - 1) + k, lambda i, k, s: conv_transpose_output_size(i, k, s, 0)),
    13: (lambda i, k, s, p: s * (i - 1) + k - 2 * p,
         lambda i, k, s, p: conv_transpose_output_size(i, k, s, p)),
    14: (lambda i, k, s, p, a: s * (i - 1) + a + k - 2 * p,
         lambda i, k, s, p, a: conv_transpose_output_size(i, k, s, p, a)),
    15: (lambda i, k, s, p, d: (i + 2 * p - k - (k - 1) * (d - 1)) // s + 1,
         lambda i, k, s, p, d: _rel(i, k, s, p, d)),
}

# Cases per relationship: the paper's figure examples first, then more; for 8-14 the forward conv
# (i, k, s, p) and the transposed input i' = forward output, so o' must equal the forward input i.
CASES = {
    1: [(4, 3), (5, 5), (10, 1)],
    2: [(5, 4, 2), (7, 3, 0), (6, 5, 3)],
    3: [(5, 3), (9, 7), (4, 1)],
    4: [(5, 3), (6, 5), (3, 1)],
    5: [(5, 3, 2), (6, 3, 2), (224, 7, 4)],
    6: [(5, 3, 2, 1), (6, 3, 2, 1), (224, 7, 2, 3)],
    7: [(5, 3, 1), (4, 2, 2), (112, 3, 2)],
    8: [(4, 3), (3, 3), (7, 5)],
    9: [(5, 4, 2), (7, 3, 1), (6, 5, 1)],
    10: [(5, 3), (9, 7), (4, 1)],
    11: [(5, 3), (6, 5), (3, 1)],
    12: [(5, 3, 2), (9, 3, 3), (8, 4, 2)],         # (i - k) divisible by s
    13: [(5, 3, 2, 1), (7, 3, 2, 1), (9, 5, 2, 2)],
    14: [(6, 3, 2, 1), (8, 3, 3, 1), (10, 4, 3, 2)],
    15: [(7, 3, 1, 0, 2), (10, 3, 2, 2, 3), (32, 5, 1, 4, 2)],
}


def _forward_geometry(rel, case):
    """(s, p, d) of the forward conv each of Relationships 1-7 and 15 describes."""
    k = case[1]
    if rel == 2:
        return 1, case[2], 1
    if rel == 3:
        return 1, k // 2, 1
    if rel == 4:
        return 1, k - 1, 1
    if rel in (5, 7):
        return case[2], 0, 1
    if rel == 6:
        return case[2], case[3], 1
    if rel == 15:
        return case[2], case[3], case[4]
    return 1, 0, 1


def _ids():
    return [(n, c) for n, cases in CASES.items() for c in cases]


@pytest.mark.parametrize("rel, case", _ids(), ids=[f"rel{n:02d}-{'_'.join(map(str, c))}" for n, c in _ids()])
def test_dumoulin_visin_relationship(rel, case):
    paper, ours = RELATIONS[rel]
    if rel <= 7 or rel == 15:
        assert ours(*case) == paper(*case)
        i, k = case[0], case[1]
        s, p, d = _forward_geometry(rel, case)
        layer = nn.MaxPool1d(k, s) if rel == 7 else nn.Conv1d(1, 1, k, s, p, d)
        assert layer(torch.zeros(1, 1, i)).shape[-1] == paper(*case)          # torch agrees
        return
    # transposed: case gives the forward conv; feed its output size to the transposed formula
    i, k = case[0], case[1]
    s = case[2] if rel in (12, 13, 14) else 1
    p = {9: lambda: case[2], 10: lambda: k // 2, 11: lambda: k - 1, 13: lambda: case[3],
         14: lambda: case[3]}.get(rel, lambda: 0)()
    i_t = conv_output_size(i, k, s, p)
    a = (i + 2 * p - k) % s                                                   # Rel. 14's a
    args = {8: (i_t, k), 9: (i_t, k, p), 10: (i_t, k), 11: (i_t, k), 12: (i_t, k, s),
            13: (i_t, k, s, p), 14: (i_t, k, s, p, a)}[rel]
    assert ours(*args) == paper(*args) == i                                   # gives back i
    conv_t = nn.ConvTranspose1d(1, 1, k, s, p, output_padding=a)
    assert conv_t(torch.zeros(1, 1, i_t)).shape[-1] == i                      # torch agrees


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("k, s, p, d", [(3, 1, 0, 1), (3, 2, 1, 1), (5, 3, 2, 2), (2, 2, 0, 3), (4, 1, 3, 1)])
def test_conv_output_size_matches_torch(dims, k, s, p, d):
    size = (11, 9, 8)[:dims]
    y = CONV[dims](1, 1, k, s, p, d)(torch.zeros(1, 1, *size))
    assert conv_output_size(size, k, s, p, d) == tuple(y.shape[2:])
    for a in range(max(s, d)):
        yt = CONVT[dims](1, 1, k, s, p, a, 1, True, d)(torch.zeros(1, 1, *size))
        assert conv_transpose_output_size(size, k, s, p, a, d) == tuple(yt.shape[2:])


def test_output_size_per_axis_and_errors():
    assert conv_output_size((16, 112, 112), (3, 7, 7), (1, 2, 2), (1, 3, 3)) == (16, 56, 56)
    assert conv_output_size((8, 8), 3) == (6, 6)
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv_output_size(2, 5)
    with pytest.raises(ValueError, match="output_padding must be smaller"):
        conv_transpose_output_size(4, 3, 2, 0, 2)
    with pytest.raises(ValueError, match="same length"):
        conv_output_size((4, 4), (3, 3, 3))
    with pytest.raises(TypeError, match="int or a tuple"):
        conv_output_size(4.0, 3)


# --------------------------------------------------------------------------------------------------
# Receptive field: Yu & Koltun (arXiv:1511.07122) Table 1 context module, and autograd as the oracle.

YU_KOLTUN = [(3, 1, 1), (3, 1, 1), (3, 1, 2), (3, 1, 4), (3, 1, 8), (3, 1, 16), (3, 1, 1), (1, 1, 1)]
YU_KOLTUN_RF = [3, 5, 9, 17, 33, 65, 67, 67]


def _context_module(c=2):
    return nn.Sequential(*[nn.Conv2d(c, c, k, 1, padding=d * (k // 2), dilation=d) for k, _, d in YU_KOLTUN])


def _grad_support(model, size, dims=2):
    """Receptive field measured by autograd: input positions that reach the centre output unit."""
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            nn.init.constant_(m.weight, 1.0)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    model.eval()
    x = torch.ones(1, model[0].in_channels if isinstance(model, nn.Sequential) else 1, *size,
                   requires_grad=True, dtype=torch.float64)
    y = model.double()(x)
    centre = tuple(v // 2 for v in y.shape[2:])
    y[(0, 0, *centre)].backward()
    nz = (x.grad[0, 0] != 0).nonzero()
    return tuple(int(nz[:, a].max() - nz[:, a].min() + 1) for a in range(dims))


def test_receptive_field_yu_koltun_table1():
    assert [l.receptive_field for l in receptive_field(YU_KOLTUN)] == YU_KOLTUN_RF
    dicts = [dict(kernel=k, stride=s, dilation=d) for k, s, d in YU_KOLTUN]
    assert [l.receptive_field for l in receptive_field(dicts)] == YU_KOLTUN_RF
    model = _context_module()
    assert [l.receptive_field for l in receptive_field(model)] == YU_KOLTUN_RF
    assert [l.name for l in receptive_field(model)] == [str(i) for i in range(8)]
    # profile follows the data flow and gives the same per layer
    p = profile(model, (2, 80, 80))
    assert [r.receptive_field for r in p.layers] == YU_KOLTUN_RF
    # and autograd confirms the last one: 67 x 67 input pixels reach one output unit
    assert _grad_support(_context_module(1), (80, 80)) == (67, 67)


def test_receptive_field_dilation_doubling_eq3():
    # Yu & Koltun Eq. 3: F_{i+1} = F_i *_{2^i} k_i, RF of F_{i+1} is (2^{i+2} - 1)
    layers = [(3, 1, 2 ** i) for i in range(6)]
    assert [l.receptive_field for l in receptive_field(layers)] == [2 ** (i + 2) - 1 for i in range(6)]


def test_receptive_field_strides_pools_and_axes():
    # AvgPool, not MaxPool: max pooling's gradient reaches only the arg-max, which would hide the field
    net = nn.Sequential(nn.Conv2d(1, 1, 7, 2, 3), nn.AvgPool2d(3, 2, 1), nn.Conv2d(1, 1, (3, 1), 1, (1, 0)),
                        nn.Conv2d(1, 1, 3, 2, 1))
    rf = receptive_field(net)
    assert [l.receptive_field for l in rf] == [(7, 7), (11, 11), (19, 11), (27, 19)]
    assert [l.jump for l in rf] == [(2, 2), (4, 4), (4, 4), (8, 8)]
    measured = _grad_support(nn.Sequential(*[m for m in net]), (64, 64))
    assert measured == (27, 19)
    assert profile(net, (1, 64, 64)).layers[-1].receptive_field == (27, 19)


def test_receptive_field_through_residual_blocks_matches_autograd():
    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 1, 3, 1, 1)
            self.b = nn.Conv2d(1, 1, 5, 2, 2)
            self.short = nn.Conv2d(1, 1, 1, 2)

        def forward(self, x):
            return self.b(self.a(x)) + self.short(x)

    net = nn.Sequential(nn.Conv2d(1, 1, 3, 1, 1), Res(), Res())
    expected = _grad_support(net, (64, 64))
    assert expected == (21, 21)          # 3 -> (5 -> 9 | 3) -> (13 -> 21 | 9): the longer branch wins
    p = profile(net, (1, 64, 64))
    assert next(r for r in p.layers if r.name == "2.b").receptive_field == 21
    assert next(r for r in p.layers if r.name == "2.short").receptive_field == 9


def test_receptive_field_dai_first_layer():
    # Dai et al. 2017 (arXiv:1610.00087) Table 1: conv1 [80/4] = receptive field 80 samples, stride 4
    rf = receptive_field([(80, 4)])
    assert (rf[0].receptive_field, rf[0].jump) == (80, 4)
    names = convzoo.list_models("waveform_m*", modality="audio")
    assert names, "Dai et al.'s waveform nets are registered"
    for name in names:
        with torch.device("meta"):
            model = convzoo.create_model(name)
        first = receptive_field(model)[0]
        assert (first.name, first.receptive_field, first.jump) == ("stem.conv.conv", 80, 4), name


def test_profile_rf_through_1d_pools_matches_walk():
    # MaxPool1d runs as a 2D pool on an (N, C, 1, L) view; the field must survive that
    with torch.device("meta"):
        model = convzoo.create_model("waveform_m5")
    walk = {l.name: l.receptive_field for l in receptive_field(model)}
    rows = {r.name: r.receptive_field for r in profile(model, (1, 32000)).layers}
    assert walk["stem.conv.conv"] == 80 and walk["stem.pool"] == 80 + 3 * 4
    assert all(rows[name] == rf for name, rf in walk.items()), (walk, rows)


def test_receptive_field_errors():
    with pytest.raises(ValueError, match="transposed"):
        receptive_field(nn.Sequential(nn.ConvTranspose2d(1, 1, 3)))
    with pytest.raises(ValueError, match="no convs or pools"):
        receptive_field(nn.Linear(3, 3))
    with pytest.raises(TypeError, match=r"\(kernel, stride, dilation\)"):
        receptive_field([(3, 1, 1), "x"])
    with pytest.raises(ValueError, match="'kernel'"):
        receptive_field([dict(stride=2)])
