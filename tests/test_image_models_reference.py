"""The image families against the implementations people trust (timm, torchvision) and the papers.

* parameter counts equal timm's and torchvision's (and the issue's literal numbers);
* a reference model with random weights (every tensor randomised, BN statistics included, so a
  swapped mean/var or bn1/bn2 cannot hide behind an identity init), loaded with ``load_weights``,
  gives the same outputs in eval mode (max abs diff <= 1e-4) at the default and at an odd resolution
  (large models at reduced resolution to keep the suite fast);
* ``profile()`` MACs equal an independent forward-hook count on the reference (within 0.5 %) and the
  papers' tables (within 5 %), as do the parameter counts the papers print.

The twins, their counts and the papers' figures are the registered cfgs' (``cfg["twins"]``,
``cfg["num_params"]``, ``cfg["paper"]``), written once in each family's module.

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
from convzoo.registry import get_pretrained_cfg
from _twins import TWIN, twin

# ours -> (timm twin or None, torchvision twin or None, the paper's GMACs, its M parameters (None: not
# printed)), for every image model whose registered cfg cites a paper that counts the trained form
# (the fused RepVGG / MobileOne figures: tests/test_reparam.py; the waveform nets':
# tests/test_waveform_models.py); the citations are in the family modules (cfg["paper"]["source"]).
REFERENCE = {n: (cfg.get("twins", {}).get("timm"), cfg.get("twins", {}).get("torchvision"), cfg["paper"]["gmacs"],
                 cfg["paper"]["mparams"])
             for n, cfg in ((n, get_pretrained_cfg(n)) for n in convzoo.list_models())
             if "paper" in cfg and not cfg["paper"].get("fused") and cfg.get("modality") == "image"}

# timm's / torchvision's counts, written out in the family modules (cfg["num_params"]) so a bug
# shared by both sides cannot hide.
EXPECTED_PARAMS = {n: get_pretrained_cfg(n)["num_params"] for n in convzoo.list_models(task=None)
                   if "num_params" in get_pretrained_cfg(n)}

# The paper's B4/B5 figures sit below any direct count of the released architecture (timm,
# torchvision and ours agree to the MAC; torchvision's own metadata says 4.4 / 10.3 GFLOPS).
# See docs/models.md. All stay within the 5 % bound; the measured gap is asserted too.
# MobileNetV4-M/L: the released architecture (the TF reference, timm, ours, and an independent port,
# d-li14/mobilenetv4.pytorch: 9.72M / 1.080G and 32.59M / 6.376G) is larger than the paper's table
# says (9.2M / 1.0G, 31M / 5.9G); S rounds 0.186G to 0.2. Outside 5 %: asserted exactly instead.
PAPER_GAP = {"efficientnet_b4": 0.046, "efficientnet_b5": 0.037, "mobilenetv4_conv_small": -0.070,
             "mobilenetv4_conv_medium": 0.080, "mobilenetv4_conv_large": 0.081}
PAPER_PARAMS_GAP = {"mobilenetv4_conv_medium": 0.056, "mobilenetv4_conv_large": 0.051}


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
# (ours, create_model kwargs, library (the expected layout), reference name, resolutions); TWIN: the
# model's registered twin in that library (cfg["twins"]), a name: another width or setting's model
SMALL, ODD = "default", 97
# torchvision's B5-B7 (ported from TF weights) use BN eps 1e-3, momentum 0.01; its B0-B4 and timm's
# efficientnet_b* use PyTorch's 1e-5 (our default).
TV_TF_BN = {"bn_eps": 1e-3}
OUTPUT_CASES = [
    ("mobilenet_v1", {}, "timm", TWIN, (SMALL, ODD)),
    ("mobilenet_v2", {}, "timm", TWIN, (SMALL, ODD)),
    ("mobilenet_v2", {}, "torchvision", TWIN, (SMALL, ODD)),
    ("mobilenet_v1", {"width_mult": 1.25}, "timm", "mobilenetv1_125", (ODD,)),
    ("mobilenet_v2", {"width_mult": 0.5}, "timm", "mobilenetv2_050", (ODD,)),
    ("mobilenet_v2", {"width_mult": 1.4}, "timm", "mobilenetv2_140", (ODD,)),
    ("efficientnet_b0", {}, "timm", TWIN, (SMALL, ODD)),
    ("efficientnet_b0", {}, "torchvision", TWIN, (SMALL, ODD)),
    ("tf_efficientnet_b0", {}, "timm", TWIN, (SMALL, ODD)),
    ("efficientnet_b1", {}, "torchvision", TWIN, (SMALL, 113)),
    ("efficientnet_b2", {}, "timm", TWIN, (SMALL, 113)),
    ("efficientnet_b3", {}, "torchvision", TWIN, (129,)),
    ("tf_efficientnet_b3", {}, "timm", TWIN, (131,)),
    ("efficientnet_b4", {}, "timm", TWIN, (ODD,)),
    ("efficientnet_b5", TV_TF_BN, "torchvision", TWIN, (ODD,)),
    ("efficientnet_b6", {}, "timm", TWIN, (35,)),
    ("efficientnet_b7", TV_TF_BN, "torchvision", TWIN, (35,)),
    ("tf_efficientnet_b7", {}, "timm", TWIN, (37,)),
    ("efficientnet_v2_s", {}, "torchvision", TWIN, (ODD,)),
    ("efficientnet_v2_s", {"bn_eps": 1e-5}, "timm", "efficientnetv2_s", (ODD,)),
    ("tf_efficientnet_v2_s", {}, "timm", TWIN, (SMALL, ODD)),
    ("efficientnet_v2_m", {}, "torchvision", TWIN, (35,)),
    ("tf_efficientnet_v2_m", {}, "timm", TWIN, (37,)),
    ("efficientnet_v2_l", {}, "torchvision", TWIN, (35,)),
    ("tf_efficientnet_v2_l", {}, "timm", TWIN, (37,)),
    ("convnext_tiny", {}, "timm", TWIN, (SMALL, ODD)),
    ("convnext_tiny", {}, "torchvision", TWIN, (SMALL, ODD)),
    ("convnext_small", {}, "torchvision", TWIN, (ODD,)),
    ("convnext_base", {}, "timm", TWIN, (ODD,)),
    ("convnext_large", {}, "torchvision", TWIN, (35,)),
    ("convnext_xlarge", {}, "timm", TWIN, (35,)),
    ("mobilenetv3_small_100", {}, "timm", TWIN, (SMALL, ODD)),
    ("mobilenet_v3_small", {}, "torchvision", TWIN, (SMALL, ODD)),
    ("mobilenetv3_small_050", {}, "timm", TWIN, (ODD,)),
    ("mobilenetv3_small_075", {}, "timm", TWIN, (ODD,)),
    ("mobilenetv4_conv_small", {}, "timm", TWIN, (SMALL, ODD)),
    ("mobilenetv4_conv_medium", {}, "timm", TWIN, (ODD,)),
    ("mobilenetv4_conv_large", {}, "timm", TWIN, (ODD,)),
    # atto/femto/pico/nano: timm holds the MLP as 1x1 convs (conv_mlp=True), converted on loading
    ("convnextv2_atto", {}, "timm", TWIN, (SMALL, ODD)),
    ("convnextv2_nano", {}, "timm", TWIN, (ODD,)),
    ("convnextv2_tiny", {}, "timm", TWIN, (ODD,)),
    # ResNet: timm's resnet18/34/50 hold torchvision's keys, so either checkpoint is detected as "torchvision"
    ("resnet18", {}, "torchvision", TWIN, (SMALL, ODD)),
    ("resnet50", {}, "torchvision", TWIN, (ODD,)),
    ("efficientnet_lite0", {}, "timm", TWIN, (ODD,)),
    ("repvgg_a0", {}, "timm", TWIN, (ODD,)),               # the training form (branches), as timm builds it
    ("mobileone_s0", {}, "timm", TWIN, (ODD,)),
    # femto/pico are atto/nano's code at other widths, base/large/huge tiny's (huge: 660M parameters,
    # 2.6 GB a copy): checked on meta (params, MACs) to keep the suite's time
]


@pytest.mark.parametrize("name,kwargs,lib,ref_name,resolutions", OUTPUT_CASES,
                         ids=[f"{c[0]}{'-' + '-'.join(f'{k}={v}' for k, v in c[1].items()) if c[1] else ''}"
                              f"-vs-{c[2]}" for c in OUTPUT_CASES])
def test_outputs_equal_reference_after_loading_its_weights(name, kwargs, lib, ref_name, resolutions):
    ref_name = twin(name, lib, ref_name)
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
    """Params equal timm/torchvision exactly and the paper's within 5 %; MACs within 0.5 % of a hook
    count on them and 5 % of the paper, at the model's default resolution (all on the meta device)."""
    timm_name, tv_name, paper, paper_mparams = REFERENCE[name]
    model = _meta(convzoo.create_model, name)
    refs = ([_meta(_timm, timm_name)] if timm_name else []) + ([_meta(_tv, tv_name)] if tv_name else [])
    assert refs, f"{name}: a paper figure but no twin to count against"
    assert _num_params(model) == EXPECTED_PARAMS[name]
    for ref in refs:
        assert _num_params(ref) == EXPECTED_PARAMS[name], type(ref).__module__
    size = model.default_cfg["input_size"]
    macs = profile(model, size).macs
    x = torch.empty(1, *size, device="meta")
    for ref in refs:
        ref_macs = hook_macs(ref, x)
        assert abs(macs / ref_macs - 1) <= 0.005, (name, macs, ref_macs)
    if paper_mparams is not None:   # printed rounded: 5 %, as the MACs
        rel = _num_params(model) / (paper_mparams * 1e6) - 1
        if name in PAPER_PARAMS_GAP:
            assert rel == pytest.approx(PAPER_PARAMS_GAP[name], abs=0.001), f"{name}: {rel:+.2%}"
        else:
            assert abs(rel) <= 0.05, f"{name}: {_num_params(model):,} parameters vs paper {paper_mparams}M"
    if paper is None:       # no paper figure (MobileNetV3-Small 0.5): the references' count only
        return
    rel = macs / (paper * 1e9) - 1
    if name in PAPER_GAP:
        assert rel == pytest.approx(PAPER_GAP[name], abs=0.001), f"{name}: {rel:+.2%}"
    else:
        assert abs(rel) <= 0.05, f"{name}: {macs / 1e9:.3f} GMACs vs paper {paper} ({rel:+.1%})"


def test_every_family_with_a_twin_has_an_output_case():
    """The output check runs on the cases above (a family's representative, with the sizes and options
    that exercise it); a family module whose models name a twin but have no case would be compared on
    counts only. A new family is listed here the moment it is registered."""
    from convzoo.registry import model_entrypoint
    covered = {model_entrypoint(c[0]).__module__ for c in OUTPUT_CASES}
    missing = sorted({model_entrypoint(n).__module__ for n in convzoo.list_models()
                      if get_pretrained_cfg(n).get("twins") and get_pretrained_cfg(n).get("modality") == "image"}
                     - covered)
    assert not missing, f"family modules with a registered twin but no output case: {missing}"
