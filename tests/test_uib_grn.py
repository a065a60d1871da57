"""The successors' layers against oracles: GlobalResponseNorm against NumPy (Eq. 1-3 of ConvNeXt V2,
arXiv:2301.00808), the ConvNeXt V2 block and the Universal Inverted Bottleneck (MobileNetV4,
arXiv:2404.10518) against timm's blocks with the same weights, and the UIB in 1D/3D against plain
``torch.nn.functional`` calls; their refusals; and ``features_only=True, feature_cls="fx"`` scripted
(timm's ``test_model_forward_torchscript_with_features_fx``) against the eager features."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import convzoo
from convzoo.blocks import ConvNeXtBlock, UniversalInvertedResidual
from convzoo.layers import GlobalResponseNorm


def _randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                positive = name.endswith("running_var")
                t.copy_(torch.rand(t.shape, generator=g) + 0.5 if positive else torch.randn(t.shape, generator=g) * 0.3)
    return module.eval()


# ------------------------------------------------------------------------------------------- GRN
def _grn_numpy(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, spatial: tuple, chan: int, eps=1e-6):
    gx = np.sqrt((x.astype(np.float64) ** 2).sum(axis=spatial, keepdims=True))       # Eq. 1
    nx = gx / (gx.mean(axis=chan, keepdims=True) + eps)                                # Eq. 2
    shape = [1] * x.ndim
    shape[chan] = -1
    return gamma.reshape(shape) * (x * nx) + beta.reshape(shape) + x                  # Eq. 3


@pytest.mark.parametrize("dims,channels_last", [(2, True), (2, False), (1, True), (3, False)])
def test_grn_equals_the_papers_equations(dims, channels_last):
    c = 6
    grn = _randomize(GlobalResponseNorm(c, dims=dims, channels_last=channels_last))
    spatial_shape = (5, 4, 3)[:dims]
    shape = (2, *spatial_shape, c) if channels_last else (2, c, *spatial_shape)
    x = torch.randn(shape)
    spatial = tuple(range(1, dims + 1)) if channels_last else tuple(range(2, dims + 2))
    ref = _grn_numpy(x.numpy(), grn.weight.detach().numpy(), grn.bias.detach().numpy(), spatial,
                     -1 if channels_last else 1)
    assert np.abs(grn(x).detach().numpy() - ref).max() < 1e-5


def test_grn_starts_as_the_identity_and_traces():
    grn = GlobalResponseNorm(8)
    x = torch.randn(2, 5, 5, 8)
    assert torch.equal(grn(x), x)                                  # gamma = beta = 0 at init
    _randomize(grn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for traced in (torch.fx.symbolic_trace(grn), torch.jit.script(grn)):
            assert torch.allclose(traced(x), grn(x))


@pytest.mark.parametrize("shape,match", [((2, 8, 5), r"expected a 4-D input \(N, H, W, C\), got shape \(2, 8, 5\)"),
                                         ((2, 5, 5, 7), r"expected 8 channels on axis -1")])
def test_grn_refuses_a_wrong_tensor_in_one_line(shape, match):
    with pytest.raises(ValueError, match=match) as e:
        GlobalResponseNorm(8)(torch.randn(shape))
    assert "\n" not in str(e.value)


def test_convnextv2_block_equals_timms():
    from timm.models.convnext import ConvNeXtBlock as TimmBlock
    ref = _randomize(TimmBlock(16, use_grn=True, ls_init_value=None))
    ours = ConvNeXtBlock(16, layer_scale_init=0.0, grn=True).eval()
    keys = {"dwconv": "conv_dw", "norm": "norm", "pwconv1": "mlp.fc1", "grn": "mlp.grn", "pwconv2": "mlp.fc2"}
    sd = ref.state_dict()
    ours.load_state_dict({k: sd[f"{keys[k.rsplit('.', 1)[0]]}.{k.rsplit('.', 1)[1]}"] for k in ours.state_dict()})
    assert ours.gamma is None and isinstance(ours.grn, GlobalResponseNorm)
    x = torch.randn(2, 16, 9, 9)
    with torch.no_grad():
        assert (ours(x) - ref(x)).abs().max() < 1e-5


# ------------------------------------------------------------------------------------------- UIB
# (start, mid, stride, in, out, expand, kind) -- the four named forms of Fig. 4, with and without stride
UIB_CASES = [(3, 5, 2, 16, 24, 4, "ExtraDW"), (5, 5, 1, 24, 24, 3, "ExtraDW"), (0, 3, 1, 16, 16, 2, "IB"),
             (0, 5, 2, 16, 32, 6, "IB"), (3, 0, 1, 24, 24, 4, "ConvNext"), (5, 0, 2, 16, 24, 4, "ConvNext"),
             (0, 0, 1, 16, 16, 2, "FFN"), (0, 0, 1, 16, 24, 4, "FFN")]
TIMM_KEYS = {"dw_start": "dw_start", "expand": "pw_exp", "dw_mid": "dw_mid", "project": "pw_proj"}


@pytest.mark.parametrize("start,mid,stride,cin,cout,e,kind", UIB_CASES)
def test_uib_equals_timms_block(start, mid, stride, cin, cout, e, kind):
    from timm.models._efficientnet_blocks import UniversalInvertedResidual as TimmUIB
    ref = _randomize(TimmUIB(cin, cout, dw_kernel_size_start=start, dw_kernel_size_mid=mid, stride=stride,
                             exp_ratio=e, layer_scale_init_value=None))
    ours = UniversalInvertedResidual(cin, cout, start_kernel=start, mid_kernel=mid, stride=stride,
                                     expand_ratio=e).eval()
    assert ours.kind == kind and ours.use_residual == (stride == 1 and cin == cout)
    sd = ref.state_dict()
    mapped = {}
    for k in ours.state_dict():
        child, leaf, tensor = k.split(".")
        mapped[k] = sd[f"{TIMM_KEYS[child]}.{'bn' if leaf == 'norm' else leaf}.{tensor}"]
    ours.load_state_dict(mapped)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    x = torch.randn(2, cin, 15, 15)
    with torch.no_grad():
        y, y_ref = ours(x), ref(x)
    assert y.shape == y_ref.shape == (2, cout, -(-15 // stride), -(-15 // stride))
    assert (y - y_ref).abs().max() < 1e-5


def _bn(x, m):
    return F.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps)


@pytest.mark.parametrize("dims", [1, 3])
def test_uib_1d_3d_equals_functional_ops(dims):
    """ExtraDW with its residual in 1D and 3D, against F.conv1d/3d + F.batch_norm + ReLU."""
    conv = {1: F.conv1d, 3: F.conv3d}[dims]
    b = _randomize(UniversalInvertedResidual(8, 8, start_kernel=3, mid_kernel=5, stride=1, expand_ratio=2,
                                             dims=dims))
    x = torch.randn(2, 8, *(7,) * dims)
    h = _bn(conv(x, b.dw_start.conv.weight, padding=1, groups=8), b.dw_start.norm)             # no act
    h = F.relu(_bn(conv(h, b.expand.conv.weight), b.expand.norm))
    h = F.relu(_bn(conv(h, b.dw_mid.conv.weight, padding=2, groups=16), b.dw_mid.norm))
    h = _bn(conv(h, b.project.conv.weight), b.project.norm)
    with torch.no_grad():
        assert (b(x) - (x + h)).abs().max() < 1e-5


@pytest.mark.parametrize("kwargs,match", [
    (dict(start_kernel=4), r"start_kernel must be 0 \(no depthwise conv\) or an odd int >= 1, got 4"),
    (dict(mid_kernel=-3), r"mid_kernel must be 0 .* got -3"),
    (dict(mid_kernel=3.0), r"mid_kernel must be 0 .* got 3.0"),
    (dict(start_kernel=0, mid_kernel=0, stride=2), r"stride=2 needs a depthwise conv; the FFN form"),
])
def test_uib_refuses_unknown_kernel_combinations_in_one_line(kwargs, match):
    with pytest.raises(ValueError, match=match) as e:
        UniversalInvertedResidual(16, 16, **kwargs)
    assert "\n" not in str(e.value)


# ----------------------------------------------------------------- features_only, feature_cls="fx"
FX_NAMES = ["efficientnet_b0", "mobilenet_v2", "convnext_tiny", "mobilenetv4_conv_small",
            "mobilenetv3_small_100", "convnextv2_atto"]


@pytest.mark.parametrize("name", FX_NAMES)
def test_fx_features_script_and_equal_the_eager_features(name):
    from convzoo.models.base import FeatureExtractor
    fx = convzoo.create_model(name, features_only=True, feature_cls="fx").eval()
    with torch.device("meta"):       # the same net, built without its init, takes the graph's tensors
        net = convzoo.create_model(name)
    net = net.to_empty(device="cpu").eval()
    missing = net.load_state_dict(fx.graph.state_dict(), strict=False).missing_keys
    assert all(k.startswith(("head.", "neck.")) for k in missing), missing[:3]   # beyond the last level
    eager = FeatureExtractor(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(fx)
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        got, want = scripted(x), eager(x)
    assert isinstance(got, list) and len(got) == len(want) == len(eager.feature_info)
    assert fx.feature_info == eager.feature_info
    for a, b in zip(got, want):
        assert a.shape == b.shape and (a - b).abs().max() <= 1e-5 * max(1.0, b.abs().max().item())


def test_fx_features_take_out_indices():
    fx = convzoo.create_model("mobilenetv4_conv_small", features_only=True, feature_cls="fx",
                              out_indices=(-2, -1)).eval()
    assert [f["reduction"] for f in fx.feature_info] == [16, 32]
    assert [m.shape[1] for m in fx(torch.randn(1, 3, 64, 64))] == [96, 128]
