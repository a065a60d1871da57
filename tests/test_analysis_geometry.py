"""Output-size arithmetic (Dumoulin & Visin, arXiv:1603.07285) and receptive fields (Yu & Koltun,
arXiv:1511.07122) of convzoo.analysis, against the papers and autograd; split from test_analysis.py."""
from __future__ import annotations


import pytest
import torch
from torch import nn

import convzoo
from convzoo.analysis import (conv_output_size, conv_transpose_output_size, profile, receptive_field)


from _oracles import CONV, CONVT



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
