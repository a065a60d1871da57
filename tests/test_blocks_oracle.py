"""MBConv, Fused-MBConv and the ConvNeXt block against their NumPy and torch.nn.functional compositions
(float64, eval mode, randomised BN statistics); split from test_layers.py."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convzoo.blocks import ConvNeXtBlock, FusedMBConv, MBConv

from _oracles import (npy, np_sigmoid, np_silu, np_gelu, NP_ACT, F_ACT, np_bn, f_bn, np_conv,
                      f_conv, randomize, inputs, assert_close)


# --- MBConv, FusedMBConv, ConvNeXtBlock --------------------------------------------------------------

def np_se(x, se, act):
    s = x.mean(axis=tuple(range(2, x.ndim)))
    c, q = se.reduce.weight.shape[:2]
    s = act(s @ npy(se.reduce.weight).reshape(c, q).T + npy(se.reduce.bias))
    s = np_sigmoid(s @ npy(se.expand.weight).reshape(q, c).T + npy(se.expand.bias))
    return x * s.reshape(s.shape + (1,) * (x.ndim - 2))


def f_se(x, se, act):
    z = x.mean(dim=tuple(range(2, x.dim())), keepdim=True)
    return x * torch.sigmoid(f_conv(act(f_conv(z, se.reduce)), se.expand))


def _same_as_both(m, x, xt, h, ht, residual: bool) -> None:
    """The block's output equals the NumPy branch ``h`` and the functional branch ``ht`` (plus the input
    when it has a residual)."""
    if residual:
        h, ht = h + x, ht + xt
    assert_close(m(xt), h)
    assert_close(m(xt), ht)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("c_in,c_out,expand,stride,se,act", [
    (8, 8, 6, 1, 0.25, nn.SiLU),     # residual, SE from the 8 input channels (2), not 48
    (8, 8, 1, 1, 0.25, nn.SiLU),     # MBConv1: no expand conv
    (8, 12, 4, 1, 0.0, nn.ReLU6),    # MobileNetV2 style, in != out: no residual
    (8, 8, 6, 2, 0.25, nn.SiLU),     # stride 2: no residual
    (6, 6, 3, 1, 0.0, nn.ReLU6),
])
def test_mbconv_against_composition(dims, c_in, c_out, expand, stride, se, act):
    m = randomize(MBConv(c_in, c_out, expand_ratio=expand, kernel_size=3, stride=stride, se_ratio=se,
                         act_layer=act, dims=dims))
    hidden = c_in * expand
    assert m.use_residual == (stride == 1 and c_in == c_out)
    assert isinstance(m.expand, nn.Identity) == (expand == 1)
    if se:
        assert m.se.reduce.out_channels == max(1, int(c_in * se))        # SE width from block input
        assert m.se.reduce.in_channels == hidden
    x, xt = inputs(c_in, dims)
    a_np, a_f = NP_ACT[act], F_ACT[act]

    h, ht = x, xt
    if expand != 1:
        h = a_np(np_bn(np_conv(h, m.expand.conv), m.expand.norm))
        ht = a_f(f_bn(f_conv(ht, m.expand.conv), m.expand.norm))
    h = a_np(np_bn(np_conv(h, m.dw.conv), m.dw.norm))
    ht = a_f(f_bn(f_conv(ht, m.dw.conv), m.dw.norm))
    assert m.dw.conv.groups == hidden
    if se:
        h, ht = np_se(h, m.se, a_np), f_se(ht, m.se, a_f)
    h = np_bn(np_conv(h, m.project.conv), m.project.norm)           # linear bottleneck: no act
    ht = f_bn(f_conv(ht, m.project.conv), m.project.norm)
    _same_as_both(m, x, xt, h, ht, residual=stride == 1 and c_in == c_out)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("c_in,c_out,expand,stride,se", [(8, 8, 4, 1, 0.0), (8, 16, 4, 2, 0.0),
                                                         (8, 8, 1, 1, 0.0), (8, 8, 4, 1, 0.25)])
def test_fused_mbconv_against_composition(dims, c_in, c_out, expand, stride, se):
    m = randomize(FusedMBConv(c_in, c_out, expand_ratio=expand, kernel_size=3, stride=stride,
                              se_ratio=se, dims=dims))
    x, xt = inputs(c_in, dims)
    h = np_silu(np_bn(np_conv(x, m.expand.conv), m.expand.norm))
    ht = F.silu(f_bn(f_conv(xt, m.expand.conv), m.expand.norm))
    assert m.expand.conv.kernel_size == (3,) * dims and m.expand.conv.stride == (stride,) * dims
    if expand == 1:
        assert isinstance(m.project, nn.Identity)                    # the k x k conv alone
    else:
        if se:
            h, ht = np_se(h, m.se, np_silu), f_se(ht, m.se, F.silu)
        h = np_bn(np_conv(h, m.project.conv), m.project.norm)
        ht = f_bn(f_conv(ht, m.project.conv), m.project.norm)
    _same_as_both(m, x, xt, h, ht, residual=stride == 1 and c_in == c_out)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_convnext_block_against_composition(dims):
    c = 4
    m = randomize(ConvNeXtBlock(c, dims=dims, layer_scale_init=0.5))
    with torch.no_grad():
        m.gamma.copy_(torch.randn(c, dtype=torch.float64))
        m.norm.weight.copy_(torch.randn(c, dtype=torch.float64))
        m.norm.bias.copy_(torch.randn(c, dtype=torch.float64))
    size = {1: (9,), 2: (8, 7), 3: (7, 4, 5)}[dims]
    x, xt = inputs(c, dims, size=size)
    assert m.dwconv.kernel_size == (7,) * dims and m.dwconv.groups == c
    h = np.moveaxis(np_conv(x, m.dwconv), 1, -1)                     # (N, *S, C)
    mu, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
    h = (h - mu) / np.sqrt(var + m.norm.eps) * npy(m.norm.weight) + npy(m.norm.bias)
    h = np_gelu(h @ npy(m.pwconv1.weight).T + npy(m.pwconv1.bias))
    h = (h @ npy(m.pwconv2.weight).T + npy(m.pwconv2.bias)) * npy(m.gamma)
    ref = x + np.moveaxis(h, -1, 1)
    assert m.pwconv1.out_features == 4 * c
    assert_close(m(xt), ref)
    ht = f_conv(xt, m.dwconv).movedim(1, -1)
    ht = F.layer_norm(ht, (c,), m.norm.weight, m.norm.bias, m.norm.eps)
    ht = F.linear(F.gelu(F.linear(ht, m.pwconv1.weight, m.pwconv1.bias)), m.pwconv2.weight, m.pwconv2.bias)
    assert_close(m(xt), xt + (ht * m.gamma).movedim(-1, 1))


def test_blocks_drop_path_only_in_train():
    m = MBConv(8, 8, expand_ratio=2, drop_path=0.5).eval()
    x = torch.randn(4, 8, 6, 6)
    torch.testing.assert_close(m(x), x + m.project(m.se(m.dw(m.expand(x)))))
    m.train()
    torch.manual_seed(0)
    y = m(x)
    branch = (y - x).reshape(4, -1)
    assert (branch.abs().sum(1) == 0).any()                    # some samples' branches dropped whole
