"""Contract tests over the whole registry (every modality): one parametrized test per model.

For each model, built once with ``in_chans=1, num_classes=10`` on a small input (the default input
size shrunk to at most 64 px / 4 frames, never below ``min_input_size``):
output shape and finiteness, a gradient for every parameter, channels-last output equal to the
contiguous one (2D/3D), ``features_only`` maps matching ``feature_info`` (channels and reduction),
and the preprocessing metadata. TorchScript and torch.compile run on a few small models.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import convzoo
from convzoo.models.base import FeatureExtractor
from _tiers import tiered

# Builders that cannot run without arguments (tested by their owners with real arguments).
NEEDS_ARGS = {"searched": "needs spec= (a search result); tested in tests/test_search.py"}
CFG_KEYS = ("input_size", "mean", "std", "interpolation", "crop_pct", "num_classes", "first_conv",
            "classifier", "modality")
# Shrink targets per spatial axis: time axis of video to 4 frames, space to 64 px (32 px for models
# above BIG parameters), audio to 4096 samples.
SMALL = {"image": (64, 64), "video": (4, 64, 64), "audio": (4096,)}
BIG = 30_000_000


def _small_size(cfg: dict, modality: str, big: bool) -> tuple[int, ...]:
    full = tuple(cfg["input_size"][1:])
    min_size = cfg.get("min_input_size")
    if min_size is None:                           # fixed input size (e.g. C3D's fc6)
        return full
    target = SMALL.get(modality, full)
    target = target if len(target) == len(full) else full
    if big and modality in ("image", "video"):
        target = target[:-2] + (32, 32)
    return tuple(max(m, min(f, t)) for f, t, m in zip(full, target, tuple(min_size)[1:]))


@torch.no_grad()
def _fill_(model: nn.Module) -> None:
    """Cheap deterministic values for a model allocated with ``to_empty`` (weights ~ N(0, 1/fan_in))."""
    g = torch.Generator().manual_seed(0)
    pool = torch.randn(1 << 20, generator=g).repeat(2)
    for name, t in model.state_dict().items():
        if not t.is_floating_point():
            t.zero_()
        elif t.dim() >= 2:
            n, off = t.numel(), int(torch.randint(1 << 20, (1,), generator=g))
            vals = pool[off:off + n] if n <= 1 << 20 else pool[:1 << 20].repeat(-(-n >> 20))[:n]
            t.copy_(vals.view(t.shape) * t[0].numel() ** -0.5)
        elif name.endswith(("weight", "running_var")):
            t.fill_(1.0)
        elif name.endswith(("bias", "running_mean")):
            t.zero_()
        else:                                      # layer scale and other per-channel parameters
            t.fill_(0.1)


def _build(name: str, **kwargs) -> tuple[nn.Module, bool]:
    """The model and whether it is big. Models above BIG parameters skip their (slow) random init:
    built on the meta device, allocated, then filled cheaply. Their init code is the same as their
    smaller family members', which are built normally."""
    try:
        with torch.device("meta"):
            meta = convzoo.create_model(name, **kwargs)
    except Exception:   # a builder that cannot run on meta: build it normally
        return convzoo.create_model(name, **kwargs), False
    if sum(p.numel() for p in meta.parameters()) <= BIG:
        return convzoo.create_model(name, **kwargs), False
    model = meta.to_empty(device="cpu")
    _fill_(model)
    return model, True


@pytest.mark.parametrize("name", tiered(convzoo.list_models()))   # other widths/depths: slow tier
def test_model_contract(name):
    if name in NEEDS_ARGS:
        pytest.skip(NEEDS_ARGS[name])
    model, big = _build(name, num_classes=10, in_chans=1)
    cfg = model.default_cfg
    for key in CFG_KEYS:
        assert key in cfg, f"{name}: default_cfg lacks {key!r}"
    modality = cfg["modality"]   # list_models(modality=...) is checked in test_model_contract.py
    assert cfg["num_classes"] == 10 and cfg["input_size"][0] == 1
    assert len(cfg["mean"]) == len(cfg["std"])
    assert model.get_classifier().out_features == 10

    size = _small_size(cfg, modality, big)
    fixed = cfg.get("min_input_size") is None       # full-size input only (e.g. C3D): batch of 1
    x = torch.randn(1 if fixed else 2, 1, *size)
    n = x.shape[0]
    model.train()
    out = model(x)
    assert out.shape == (n, 10), f"{name}: {tuple(out.shape)}"
    assert torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    no_grad = [k for k, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"{name}: parameters without a gradient: {no_grad[:5]}"
    bad = [k for k, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"{name}: non-finite gradients in {bad[:5]}"

    model.eval()
    with torch.no_grad():
        y = model(x)
        feats = model.forward_features(x)
        assert torch.allclose(model.forward_head(feats), y, atol=1e-5)
        assert model.forward_head(feats, pre_logits=True).shape == (n, model.head.in_features)
        conv_rank = next((m.weight.dim() for m in model.modules()
                          if isinstance(m, (nn.Conv2d, nn.Conv3d))), None)
        # channels_last / channels_last_3d, chosen by the convs' and the input's rank
        if conv_rank is not None and not fixed:
            fmts = {4: torch.channels_last, 5: torch.channels_last_3d}
            model_cl = model.to(memory_format=fmts[conv_rank])
            y_cl = model_cl(x.to(memory_format=fmts[x.dim()]) if x.dim() in fmts else x)
            tol = 1e-4 * max(1.0, y.abs().max().item())
            assert (y_cl - y).abs().max().item() <= tol, f"{name}: channels_last differs"
            model.to(memory_format=torch.contiguous_format)

        if model.feature_info:
            fx = FeatureExtractor(model)
            maps = fx(x)
            assert len(maps) == len(model.feature_info)
            for fmap, info in zip(maps, model.feature_info):
                assert fmap.shape[0] == n and fmap.shape[1] == info["num_chs"], (name, info)
                if fmap.dim() == 2:    # a flat (N, C) level, e.g. after C3D's fc layers
                    continue
                # reduction is the spatial stride: the last axis shrinks by it (ceil or floor)
                expect = size[-1] / info["reduction"]
                assert fmap.shape[-1] in (math.floor(expect), math.ceil(expect)), (name, info,
                                                                                    fmap.shape)
    model.reset_classifier(3)
    with torch.no_grad():
        assert model(x).shape == (n, 3)


def test_create_model_defaults_and_errors():
    m = convzoo.create_model("mobilenet_v1", width_mult=0.25)
    assert m.num_classes == 1000 and m.in_chans == 3
    assert m.default_cfg["input_size"] == (3, 224, 224)
    with pytest.raises(ValueError, match=r"did you mean: .*efficientnet_b"):
        convzoo.create_model("efficientnet_bO")
    with pytest.raises(ValueError, match="width_mult"):
        convzoo.create_model("mobilenet_v2", width_mult=0)
    with pytest.raises(ValueError, match="expected 3 input channels, got 1"):
        m(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="padding"):
        convzoo.create_model("efficientnet_b0", padding="valid")
    feats = convzoo.create_model("convnext_tiny", features_only=True, out_indices=(1, -1))
    assert [f["reduction"] for f in feats.feature_info] == [8, 32]
    assert [f.shape[1] for f in feats(torch.randn(1, 3, 64, 64))] == [192, 768]


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("name,kwargs", [("mobilenet_v2", {"width_mult": 0.35}),
                                         ("tf_efficientnet_b0", {}), ("convnext_tiny", {})])
def test_torchscript_trace_matches_eager(name, kwargs):
    model = convzoo.create_model(name, **kwargs).eval()
    x = torch.randn(1, 3, 33, 33)
    with torch.no_grad():
        traced = torch.jit.trace(model, x, check_trace=False)
        assert torch.allclose(traced(x), model(x), atol=1e-5)


def test_torch_compile_matches_eager():
    """fullgraph: no graph breaks in MBConv, SE, TF SAME padding or the input checks."""
    from convzoo.blocks import MBConv
    from convzoo.models._specs import MBStage
    from convzoo.models.efficientnet import EfficientNet
    table = (MBStage(MBConv, 1, 3, 1, 8, 1, 0.25), MBStage(MBConv, 4, 5, 2, 16, 2, 0.25))
    model = EfficientNet.from_table(table, 8, 32, num_classes=10, padding="tf_same").eval()
    x = torch.randn(2, 3, 33, 33)
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    with torch.no_grad():
        assert torch.allclose(compiled(x), model(x), atol=1e-5)


def test_compound_scaling_and_from_table():
    from convzoo.models.efficientnet import EFFICIENTNET_B0, EfficientNet
    d, w, r = convzoo.compound_scaling(1)
    assert (d, w, r) == (1.2, 1.1, 1.15)
    d2, w2, r2 = convzoo.compound_scaling(2)
    assert d2 == pytest.approx(1.44) and w2 == pytest.approx(1.21) and r2 == pytest.approx(1.3225)
    assert d * w ** 2 * r ** 2 == pytest.approx(1.92, abs=0.01)   # Eq. 3: ~2x MACs per phi
    with pytest.raises(ValueError, match="alpha"):
        convzoo.compound_scaling(1, alpha=0.9)
    # B3 = the B0 table scaled by its official tuple: the paper_tables.md derived row
    b3 = EfficientNet.from_table(EFFICIENTNET_B0, width_mult=1.2, depth_mult=1.4, resolution=300)
    assert b3.stem.out_channels == 40 and b3.neck.out_channels == 1536
    assert [len(s) for s in b3.stages] == [2, 3, 3, 5, 5, 6, 2]
    assert [s[-1].out_channels for s in b3.stages] == [24, 32, 48, 96, 136, 232, 384]
    assert b3.default_cfg["input_size"] == (3, 300, 300)
    # a small custom base table (as a scaling study on small data would use)
    from convzoo.models._specs import MBStage
    from convzoo.blocks import MBConv
    tiny = (MBStage(MBConv, 1, 3, 1, 16, 1, 0.25), MBStage(MBConv, 4, 3, 2, 24, 2, 0.25))
    m = EfficientNet.from_table(tiny, 16, 64, width_mult=1.5, depth_mult=2.0, resolution=40,
                                num_classes=10, in_chans=1)
    assert [len(s) for s in m.stages] == [2, 4] and m.stem.out_channels == 24
    assert m(torch.randn(2, 1, 40, 40)).shape == (2, 10)

