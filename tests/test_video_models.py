"""3D video nets: torchvision parity (R3D-18, R(2+1)D-18), C3D's count and port layout, small nets."""
import pytest
import torch
import torch.nn.functional as F
import torchvision.models.video as tvv

import convzoo
from convzoo.layers import midplanes
from convzoo.registry import get_pretrained_cfg
from _twins import twin

from _helpers import randomize_bn

VIDEO_MODELS = ["c3d", "r3d_18", "r2plus1d_18", "c3d_small", "r2plus1d_small", "frame2d_small",
                "stack2d_small"]


def n_params(m):
    return sum(p.numel() for p in m.parameters())



@pytest.fixture(scope="module")
def built():
    """Each big model is built once per module (construction dominates these tests' time)."""
    cache = {}

    def get(name, **kw):
        key = (name, tuple(sorted(kw.items())))
        if key not in cache:
            if name.startswith("tv_"):
                cache[key] = getattr(tvv, name[3:])(weights=None)
            else:
                cache[key] = convzoo.create_model(name, **kw)
        return cache[key]
    return get


def test_registry():
    assert set(VIDEO_MODELS) <= set(convzoo.list_models(modality="video"))


@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18"])
def test_param_count_equals_torchvision(name, built):
    ours, ref = built(name), built("tv_" + twin(name, "torchvision"))
    assert n_params(ours) == n_params(ref)
    if name == "r2plus1d_18":   # torchvision's count, written out in the registered cfg
        assert n_params(ours) == get_pretrained_cfg(name)["num_params"]


@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18"])
def test_outputs_equal_torchvision_after_loading(name, built):
    ref = built("tv_" + name).eval()
    randomize_bn(ref)
    ours = built(name).eval()
    result = convzoo.load_weights(ours, ref.state_dict(), layout="torchvision")
    assert result.layout == "torchvision"
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        diff = (ours(x) - ref(x)).abs().max().item()
    assert diff <= 1e-4


def test_layout_is_detected(built):
    ref, ours = built("tv_r3d_18"), built("r3d_18")
    assert convzoo.load_weights(ours, ref.state_dict()).layout == "torchvision"


def test_r2plus1d_uses_torchvision_midplanes(built):
    """torchvision: one M per block, from the block's first conv, reused by its second conv."""
    m = built("r2plus1d_18")
    blk = m.stages[1][0]                       # conv3_1: 64 -> 128
    mid = (64 * 128 * 27) // (64 * 9 + 3 * 128)
    assert blk.conv1.conv.spatial.out_channels == mid == 230
    assert blk.conv2.conv.spatial.out_channels == mid   # not midplanes(128, 128) = 288
    assert m.stem.spatial.conv.out_channels == 45


def test_r2plus1d_paper_exact():
    """Sec. 3.5: every (2+1)D conv gets its own M_i = floor(t d^2 N_{i-1} N_i / (d^2 N_{i-1} + t N_i)),
    the stem included (M = 83). Counted here by the formula, layer by layer."""
    m = convzoo.create_model("r2plus1d_18", paper_exact=True)

    def c2p1(cin, cout, t=3, d=3):
        mi = (t * d * d * cin * cout) // (d * d * cin + t * cout)
        return cin * d * d * mi + 2 * mi + mi * t * cout        # spatial + BN(mid) + temporal

    stem_m = (3 * 49 * 3 * 64) // (49 * 3 + 3 * 64)
    assert stem_m == 83
    total = 3 * 49 * stem_m + 2 * stem_m + stem_m * 3 * 64 + 2 * 64
    c = 64
    for width, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        for b in range(2):
            total += c2p1(c, width) + 2 * width + c2p1(width, width) + 2 * width
            if b == 0 and (stride != 1 or c != width):
                total += c * width + 2 * width
            c = width
    total += 512 * 400 + 400
    assert n_params(m) == total == 33_383_797
    assert round(n_params(m) / 1e6, 1) in (33.3, 33.4)      # Table 2: "33.3M"
    assert m.stages[1][0].conv2.conv.spatial.out_channels == midplanes(128, 128) == 288


def test_c3d_param_count(built):
    m = built("c3d", num_classes=101)
    assert n_params(m) == 78_409_573
    # 487 Sports-1M classes: the count differs by fc8 only
    assert n_params(m) - (4096 * 101 + 101) + (4096 * 487 + 487) == 79_991_015


def _c3d_port_state_dict(num_classes):
    """A DavideA/c3d-pytorch state dict: its key names and shapes (Fig. 3 of Tran et al. 2015)."""
    g = torch.Generator().manual_seed(0)
    sd, c = {}, 3
    for name, out in [("conv1", 64), ("conv2", 128), ("conv3a", 256), ("conv3b", 256), ("conv4a", 512),
                      ("conv4b", 512), ("conv5a", 512), ("conv5b", 512)]:
        sd[f"{name}.weight"] = (torch.rand(out, c, 3, 3, 3, generator=g) - 0.5) * (24 / (27 * c)) ** 0.5
        sd[f"{name}.bias"] = (torch.rand(out, generator=g) - 0.5) * 0.02
        c = out
    for name, i, o in [("fc6", 8192, 4096), ("fc7", 4096, 4096), ("fc8", 4096, num_classes)]:
        sd[f"{name}.weight"] = (torch.rand(o, i, generator=g) - 0.5) * (12 / i) ** 0.5
        sd[f"{name}.bias"] = torch.zeros(o)
    return sd


def _c3d_reference(sd, x):
    """C3D written with torch.nn.functional, as the port's forward()."""
    pools = {"conv1": ((1, 2, 2), 0), "conv2": ((2, 2, 2), 0), "conv3b": ((2, 2, 2), 0),
             "conv4b": ((2, 2, 2), 0), "conv5b": ((2, 2, 2), (0, 1, 1))}
    for name in ["conv1", "conv2", "conv3a", "conv3b", "conv4a", "conv4b", "conv5a", "conv5b"]:
        x = F.relu(F.conv3d(x, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1))
        if name in pools:
            k, p = pools[name]
            x = F.max_pool3d(x, k, k, p)
    x = x.reshape(-1, 8192)
    x = F.relu(F.linear(x, sd["fc6.weight"], sd["fc6.bias"]))
    x = F.relu(F.linear(x, sd["fc7.weight"], sd["fc7.bias"]))
    return F.linear(x, sd["fc8.weight"], sd["fc8.bias"])


def test_c3d_loads_port_checkpoint_and_matches(built):
    sd = _c3d_port_state_dict(101)
    m = built("c3d", num_classes=101).eval()
    assert convzoo.load_weights(m, sd).layout == "c3d-pytorch"
    x = torch.randn(1, 3, 16, 112, 112)
    with torch.no_grad():
        feats = m.forward_features(x)
        ours = m.forward_head(feats)
        ref = _c3d_reference(sd, x)
    assert feats.shape == (1, 4096)
    assert ref.abs().max() > 1e-3                      # not a trivially zero output
    assert (ours - ref).abs().max().item() <= 1e-4


def test_c3d_rejects_other_clip_sizes(built):
    with pytest.raises(ValueError, match="16 x 112 x 112"):
        built("c3d", num_classes=101)(torch.randn(1, 3, 8, 112, 112))


@pytest.mark.parametrize("name", ["c3d_small", "r2plus1d_small", "frame2d_small", "stack2d_small"])
def test_small_nets_forward_backward(name):
    m = convzoo.create_model(name)
    assert m.default_cfg["input_size"] == (1, 8, 24, 24) and m.default_cfg["modality"] == "video"
    y = m(torch.randn(2, 1, 8, 24, 24))
    assert y.shape == (2, 8) and torch.isfinite(y).all()
    y.sum().backward()
    assert all(p.grad is not None for p in m.parameters())


def test_frame2d_sees_only_the_middle_frame():
    m = convzoo.create_model("frame2d_small").eval()
    x = torch.randn(2, 1, 8, 24, 24)
    x2 = torch.randn_like(x)
    x2[:, :, 4] = x[:, :, 4]
    with torch.no_grad():
        assert torch.equal(m(x), m(x2))


@pytest.mark.parametrize("name", ["c3d_small", "r2plus1d_small", "stack2d_small"])
def test_temporal_nets_see_frame_order(name):
    m = convzoo.create_model(name).eval()
    x = torch.randn(2, 1, 8, 24, 24)
    with torch.no_grad():
        assert not torch.allclose(m(x), m(x.flip(2)))


@pytest.mark.parametrize("name,shapes", [
    ("c3d_small", [(8, 8, 12, 12), (16, 4, 6, 6), (32, 2, 3, 3), (64, 2, 3, 3)]),
    ("frame2d_small", [(8, 12, 12), (16, 6, 6), (32, 3, 3), (64, 3, 3)]),
    ("stack2d_small", [(8, 12, 12), (16, 6, 6), (32, 3, 3), (64, 3, 3)]),
])
def test_small_nets_features_only(name, shapes):
    f = convzoo.create_model(name, features_only=True).eval()
    with torch.no_grad():
        feats = f(torch.randn(1, 1, 8, 24, 24))
    assert [tuple(t.shape[1:]) for t in feats] == shapes


def test_r3d_features_only():
    f = convzoo.create_model("r3d_18", features_only=True).eval()
    with torch.no_grad():
        feats = f(torch.randn(1, 3, 8, 32, 32))
    assert [t.shape[1] for t in feats] == [64, 64, 128, 256, 512]
    assert [tuple(t.shape[2:]) for t in feats] == [(8, 16, 16), (8, 16, 16), (4, 8, 8), (2, 4, 4), (1, 2, 2)]
