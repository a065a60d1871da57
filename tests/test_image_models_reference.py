"""The image families against the implementations people trust (timm, torchvision) and the papers.

* parameter counts equal timm's and torchvision's (and the issue's literal numbers);
* a reference model with random weights (every tensor randomised, BN statistics included, so a
  swapped mean/var or bn1/bn2 cannot hide behind an identity init), loaded with ``load_weights``,
  gives the same outputs in eval mode (max abs diff <= 1e-4) at the default and at an odd resolution
  (large models at reduced resolution to keep the suite fast);
* ``profile()`` MACs equal an independent forward-hook count on the reference (within 0.5 %) and the
  papers' tables (within 5 %).

Models are built on the ``meta`` device where only shapes matter, so the big ones cost little.
"""
from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from torch import nn

import convzoo
from convzoo.analysis import profile

# ours -> (timm name, torchvision name or None, paper MACs (G) at the default resolution)
# Papers: MobileNetV1 Table 8 (569M), MobileNetV2 Table 4 (300M), EfficientNet Table 2,
# EfficientNetV2 official README (released checkpoints), ConvNeXt Table 1 (XL: 22K table).
REFERENCE = {
    "mobilenet_v1": ("mobilenetv1_100", None, 0.569),
    "mobilenet_v2": ("mobilenetv2_100", "mobilenet_v2", 0.300),
    "efficientnet_b0": ("efficientnet_b0", "efficientnet_b0", 0.39),
    "efficientnet_b1": ("efficientnet_b1", "efficientnet_b1", 0.70),
    "efficientnet_b2": ("efficientnet_b2", "efficientnet_b2", 1.0),
    "efficientnet_b3": ("efficientnet_b3", "efficientnet_b3", 1.8),
    "efficientnet_b4": ("efficientnet_b4", "efficientnet_b4", 4.2),
    "efficientnet_b5": ("efficientnet_b5", "efficientnet_b5", 9.9),
    "efficientnet_b6": ("efficientnet_b6", "efficientnet_b6", 19.0),
    "efficientnet_b7": ("efficientnet_b7", "efficientnet_b7", 37.0),
    "efficientnet_v2_s": ("tf_efficientnetv2_s", "efficientnet_v2_s", 8.4),
    "efficientnet_v2_m": ("tf_efficientnetv2_m", "efficientnet_v2_m", 24.7),
    "efficientnet_v2_l": ("tf_efficientnetv2_l", "efficientnet_v2_l", 56.3),
    "convnext_tiny": ("convnext_tiny", "convnext_tiny", 4.5),
    "convnext_small": ("convnext_small", "convnext_small", 8.7),
    "convnext_base": ("convnext_base", "convnext_base", 15.4),
    "convnext_large": ("convnext_large", "convnext_large", 34.4),
    "convnext_xlarge": ("convnext_xlarge", None, 60.9),
    # MobileNetV3 Table 3 (Small 1.0: 56M, 0.75: 44M; the paper gives no 0.5 figure)
    "mobilenet_v3_small": ("mobilenetv3_small_100", "mobilenet_v3_small", 0.056),
    "mobilenetv3_small_075": ("mobilenetv3_small_075", None, 0.044),
    "mobilenetv3_small_050": ("mobilenetv3_small_050", None, None),
    # MobileNetV4's ImageNet table (S at 224, M at 256, L at 384 px)
    "mobilenetv4_conv_small": ("mobilenetv4_conv_small", None, 0.2),
    "mobilenetv4_conv_medium": ("mobilenetv4_conv_medium", None, 1.0),
    "mobilenetv4_conv_large": ("mobilenetv4_conv_large", None, 5.9),
    # ConvNeXt V2 official README (ImageNet-1K table at 224 px; Huge at 384 px from its 22K table)
    "convnextv2_atto": ("convnextv2_atto", None, 0.55), "convnextv2_femto": ("convnextv2_femto", None, 0.78),
    "convnextv2_pico": ("convnextv2_pico", None, 1.37), "convnextv2_nano": ("convnextv2_nano", None, 2.45),
    "convnextv2_tiny": ("convnextv2_tiny", None, 4.47), "convnextv2_base": ("convnextv2_base", None, 15.4),
    "convnextv2_large": ("convnextv2_large", None, 34.4), "convnextv2_huge": ("convnextv2_huge", None, 337.9),
}

# The numbers (torchvision's num_params / timm), written out so a shared bug cannot hide.
EXPECTED_PARAMS = {
    "mobilenet_v1": 4_231_976, "mobilenet_v2": 3_504_872,
    "efficientnet_b0": 5_288_548, "efficientnet_b1": 7_794_184, "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232, "efficientnet_b4": 19_341_616, "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704, "efficientnet_b7": 66_347_960,
    "efficientnet_v2_s": 21_458_488, "efficientnet_v2_m": 54_139_356, "efficientnet_v2_l": 118_515_272,
    "convnext_tiny": 28_589_128, "convnext_small": 50_223_688, "convnext_base": 88_591_464,
    "convnext_large": 197_767_336, "convnext_xlarge": 350_196_968,
    "mobilenet_v3_small": 2_542_856, "mobilenetv3_small_075": 2_041_872, "mobilenetv3_small_050": 1_593_224,
    "mobilenetv4_conv_small": 3_774_024, "mobilenetv4_conv_medium": 9_715_512, "mobilenetv4_conv_large": 32_590_864,
    "convnextv2_atto": 3_708_400, "convnextv2_femto": 5_233_240, "convnextv2_pico": 9_066_280,
    "convnextv2_nano": 15_623_800, "convnextv2_tiny": 28_635_496, "convnextv2_base": 88_717_800,
    "convnextv2_large": 197_956_840, "convnextv2_huge": 660_289_640,
}

# The paper's B4/B5 figures sit below any direct count of the released architecture (timm,
# torchvision and ours agree to the MAC; torchvision's own metadata says 4.4 / 10.3 GFLOPS).
# See docs/models.md. All stay within the 5 % bound; the measured gap is asserted too.
# MobileNetV4-M/L: the released architecture (the TF reference, timm, ours, and an independent port,
# d-li14/mobilenetv4.pytorch: 9.72M / 1.080G and 32.59M / 6.376G) is larger than the paper's table
# says (9.2M / 1.0G, 31M / 5.9G); S rounds 0.186G to 0.2. Outside 5 %: asserted exactly instead.
PAPER_GAP = {"efficientnet_b4": 0.046, "efficientnet_b5": 0.037, "mobilenetv4_conv_small": -0.070,
             "mobilenetv4_conv_medium": 0.080, "mobilenetv4_conv_large": 0.081}


def _num_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _meta(fn, *a, **kw) -> nn.Module:
    with torch.device("meta"):
        return fn(*a, **kw).eval()


def _timm(name):
    return timm.create_model(name, pretrained=False)


def _tv(name):
    return getattr(torchvision.models, name)(weights=None)


def hook_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Independent MAC count: forward hooks on every Conv2d (incl. timm's Conv2dSame) and Linear.

    conv: out elements x (C_in / groups) x kh x kw; linear: out elements x in_features.
    """
    total = 0

    def hook(m, inp, out):
        nonlocal total
        if isinstance(m, nn.Conv2d):
            total += out.numel() * m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
        else:
            total += out.numel() * m.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return total


_POOL_SIZE = 1 << 20


@torch.no_grad()
def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every tensor of ``model`` random values of a sensible scale (deterministic).

    Values are drawn once into a pool of 2^20 normals and tiled from a random offset per tensor:
    RNG for 350M parameters would dominate the test's run time, and a period of 2^20 is plenty.
    """
    g = torch.Generator().manual_seed(seed)
    pool = torch.randn(_POOL_SIZE, generator=g).repeat(2)             # doubled: any window fits
    upool = (torch.rand(_POOL_SIZE, generator=g) + 0.5).repeat(2)     # U(0.5, 1.5)
    for name, t in model.state_dict().items():
        if not t.is_floating_point():
            continue
        leaf = name.rsplit(".", 1)[-1]
        positive = leaf == "running_var" or (t.dim() == 1 and leaf == "weight") or "gamma" in name \
            or "layer_scale" in name
        src = upool if positive else pool
        n, off = t.numel(), int(torch.randint(_POOL_SIZE, (1,), generator=g))
        if n <= _POOL_SIZE:
            vals = src[off:off + n]
        else:
            vals = src[off:off + _POOL_SIZE].repeat(-(-n // _POOL_SIZE))[:n]
        if not positive:   # conv/linear weights ~ N(0, 1/fan_in); biases and means ~ N(0, 0.01)
            vals = vals * (t[0].numel() ** -0.5 if t.dim() >= 2 else 0.1)
        t.copy_(vals.view(t.shape))
    return model


def _real(fn, *a, **kw) -> nn.Module:
    """Build on meta (skips the slow init), then allocate on CPU."""
    return _meta(fn, *a, **kw).to_empty(device="cpu")


@pytest.mark.parametrize("name", ["tf_efficientnet_b0", "tf_efficientnet_b7", "tf_efficientnet_v2_l"])
def test_tf_variants_have_the_same_parameters(name):
    base = name[3:]
    assert _num_params(_meta(convzoo.create_model, name)) == EXPECTED_PARAMS[base]


# --------------------------------------------------------------------------------- outputs
# (ours, create_model kwargs, reference builder, reference name, expected layout, resolutions)
SMALL, ODD = "default", 97
# torchvision's B5-B7 (ported from TF weights) use BN eps 1e-3, momentum 0.01; its B0-B4 and timm's
# efficientnet_b* use PyTorch's 1e-5 (our default).
TV_TF_BN = {"bn_eps": 1e-3}
OUTPUT_CASES = [
    ("mobilenet_v1", {}, "timm", "mobilenetv1_100", (SMALL, ODD)),
    ("mobilenet_v2", {}, "timm", "mobilenetv2_100", (SMALL, ODD)),
    ("mobilenet_v2", {}, "torchvision", "mobilenet_v2", (SMALL, ODD)),
    ("mobilenet_v1", {"width_mult": 1.25}, "timm", "mobilenetv1_125", (ODD,)),
    ("mobilenet_v2", {"width_mult": 0.5}, "timm", "mobilenetv2_050", (ODD,)),
    ("mobilenet_v2", {"width_mult": 1.4}, "timm", "mobilenetv2_140", (ODD,)),
    ("efficientnet_b0", {}, "timm", "efficientnet_b0", (SMALL, ODD)),
    ("efficientnet_b0", {}, "torchvision", "efficientnet_b0", (SMALL, ODD)),
    ("tf_efficientnet_b0", {}, "timm", "tf_efficientnet_b0", (SMALL, ODD)),
    ("efficientnet_b1", {}, "torchvision", "efficientnet_b1", (SMALL, 113)),
    ("efficientnet_b2", {}, "timm", "efficientnet_b2", (SMALL, 113)),
    ("efficientnet_b3", {}, "torchvision", "efficientnet_b3", (129,)),
    ("tf_efficientnet_b3", {}, "timm", "tf_efficientnet_b3", (131,)),
    ("efficientnet_b4", {}, "timm", "efficientnet_b4", (ODD,)),
    ("efficientnet_b5", TV_TF_BN, "torchvision", "efficientnet_b5", (ODD,)),
    ("efficientnet_b6", {}, "timm", "efficientnet_b6", (35,)),
    ("efficientnet_b7", TV_TF_BN, "torchvision", "efficientnet_b7", (35,)),
    ("tf_efficientnet_b7", {}, "timm", "tf_efficientnet_b7", (37,)),
    ("efficientnet_v2_s", {}, "torchvision", "efficientnet_v2_s", (ODD,)),
    ("efficientnet_v2_s", {"bn_eps": 1e-5}, "timm", "efficientnetv2_s", (ODD,)),
    ("tf_efficientnet_v2_s", {}, "timm", "tf_efficientnetv2_s", (SMALL, ODD)),
    ("efficientnet_v2_m", {}, "torchvision", "efficientnet_v2_m", (35,)),
    ("tf_efficientnet_v2_m", {}, "timm", "tf_efficientnetv2_m", (37,)),
    ("efficientnet_v2_l", {}, "torchvision", "efficientnet_v2_l", (35,)),
    ("tf_efficientnet_v2_l", {}, "timm", "tf_efficientnetv2_l", (37,)),
    ("convnext_tiny", {}, "timm", "convnext_tiny", (SMALL, ODD)),
    ("convnext_tiny", {}, "torchvision", "convnext_tiny", (SMALL, ODD)),
    ("convnext_small", {}, "torchvision", "convnext_small", (ODD,)),
    ("convnext_base", {}, "timm", "convnext_base", (ODD,)),
    ("convnext_large", {}, "torchvision", "convnext_large", (35,)),
    ("convnext_xlarge", {}, "timm", "convnext_xlarge", (35,)),
    ("mobilenetv3_small_100", {}, "timm", "mobilenetv3_small_100", (SMALL, ODD)),
    ("mobilenet_v3_small", {}, "torchvision", "mobilenet_v3_small", (SMALL, ODD)),
    ("mobilenetv3_small_050", {}, "timm", "mobilenetv3_small_050", (ODD,)),
    ("mobilenetv3_small_075", {}, "timm", "mobilenetv3_small_075", (ODD,)),
    ("mobilenetv4_conv_small", {}, "timm", "mobilenetv4_conv_small", (SMALL, ODD)),
    ("mobilenetv4_conv_medium", {}, "timm", "mobilenetv4_conv_medium", (ODD,)),
    ("mobilenetv4_conv_large", {}, "timm", "mobilenetv4_conv_large", (ODD,)),
    # atto/femto/pico/nano: timm holds the MLP as 1x1 convs (conv_mlp=True), converted on loading
    ("convnextv2_atto", {}, "timm", "convnextv2_atto", (SMALL, ODD)),
    ("convnextv2_nano", {}, "timm", "convnextv2_nano", (ODD,)),
    ("convnextv2_tiny", {}, "timm", "convnextv2_tiny", (ODD,)),
    # femto/pico are atto/nano's code at other widths, base/large/huge tiny's (huge: 660M parameters,
    # 2.6 GB a copy): checked on meta (params, MACs) to keep the suite's time
]


@pytest.mark.parametrize("name,kwargs,lib,ref_name,resolutions", OUTPUT_CASES,
                         ids=[f"{c[0]}{'-' + '-'.join(f'{k}={v}' for k, v in c[1].items()) if c[1] else ''}"
                              f"-vs-{c[2]}" for c in OUTPUT_CASES])
def test_outputs_equal_reference_after_loading_its_weights(name, kwargs, lib, ref_name, resolutions):
    ref = randomize_(_real(_timm if lib == "timm" else _tv, ref_name)).eval()
    ours = _real(convzoo.create_model, name, **kwargs).eval()
    result = convzoo.load_weights(ours, ref.state_dict())      # layout detected
    assert result.layout == lib
    assert not (result.head_reset or result.first_conv_adapted)
    for res in resolutions:
        size = ours.default_cfg["input_size"][1] if res == SMALL else res
        x = torch.randn(1 if res == SMALL else 2, 3, size, size)
        with torch.no_grad():
            expected, got = ref(x), ours(x)
        assert got.shape == expected.shape
        assert expected.std() > 1e-2, "degenerate reference output: the comparison would be vacuous"
        assert (got - expected).abs().max().item() <= 1e-4, f"{name} vs {lib} {ref_name} at {size}px"


def test_bn_eps_mismatch_is_caught_by_the_output_check():
    """The oracle can fail: torchvision's B5-B7 use BN eps 1e-3; loading B0 weights into a model with
    the wrong eps must show up as a difference far above the 1e-4 tolerance."""
    ref = randomize_(_real(_timm, "efficientnet_b0")).eval()
    ours = _real(convzoo.create_model, "efficientnet_b0", bn_eps=1e-3).eval()
    convzoo.load_weights(ours, ref.state_dict())
    x = torch.randn(1, 3, 65, 65)
    with torch.no_grad():
        assert (ours(x) - ref(x)).abs().max().item() > 1e-4


# ------------------------------------------------------------------------------------ MACs
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_params_and_macs_match_references_and_paper(name):
    """Params equal timm/torchvision exactly; MACs within 0.5 % of a hook count on them and 5 % of
    the paper, at the model's default resolution (everything on the meta device)."""
    timm_name, tv_name, paper = REFERENCE[name]
    model = _meta(convzoo.create_model, name)
    refs = [_meta(_timm, timm_name)] + ([_meta(_tv, tv_name)] if tv_name else [])
    assert _num_params(model) == EXPECTED_PARAMS[name]
    for ref in refs:
        assert _num_params(ref) == EXPECTED_PARAMS[name], type(ref).__module__
    size = model.default_cfg["input_size"]
    macs = profile(model, size).macs
    x = torch.empty(1, *size, device="meta")
    for ref in refs:
        ref_macs = hook_macs(ref, x)
        assert abs(macs / ref_macs - 1) <= 0.005, (name, macs, ref_macs)
    if paper is None:       # no paper figure (MobileNetV3-Small 0.5): the references' count only
        return
    rel = macs / (paper * 1e9) - 1
    if name in PAPER_GAP:
        assert rel == pytest.approx(PAPER_GAP[name], abs=0.001), f"{name}: {rel:+.2%}"
    else:
        assert abs(rel) <= 0.05, f"{name}: {macs / 1e9:.3f} GMACs vs paper {paper} ({rel:+.1%})"
