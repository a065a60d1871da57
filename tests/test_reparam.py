"""Structural re-parameterization (RepVGG, MobileOne) against independent oracles.

* the kernel arithmetic against ``F.conv2d`` (a padded 1x1 kernel is the 1x1 conv, the identity
  kernel is the identity, grouped too);
* each block's fused conv against its branches summed by PyTorch in eval mode (random BN
  statistics) and against timm's own ``reparameterize()`` of the same weights;
* the families against timm (parameters, default cfgs, outputs and intermediates after loading
  timm's state dict, timm's re-parameterized weights into our fused model) and against the papers'
  inference-time parameters and MACs (the fused form is what the papers count);
* the bad inputs: training mode, twice, non-finite weights;
* every registered model with re-parameterizable blocks: ``reparameterize_model`` equals the
  trained form (ONNX parity of the fused form: tests/test_export_registry.py, whose fold check fuses first).
"""
from __future__ import annotations

import sys

import pytest
import timm
import torch
import torch.nn.functional as F
from timm.models.byobnet import MobileOneBlock as TimmMobileOne, RepVggBlock as TimmRepVgg
from torch import nn

import convzoo
from convzoo.analysis import profile
from convzoo.blocks import MobileOneBlock, RepVggBlock, reparameterize_model
from convzoo.blocks.reparam import Reparameterizable, identity_kernel, pad_kernel
from convzoo.models.repvgg import convert_timm_byobnet
from convzoo.registry import get_pretrained_cfg, model_entrypoint
from _export_checks import RUN_HEAVY
from _helpers import randomize_bn, rel_err
from test_image_models_reference import _meta, _real, hook_macs, randomize_
from test_models import _build
from _twins import twin

TOL = 1e-5



# ------------------------------------------------------------------------- the kernel arithmetic
@pytest.mark.parametrize("stride,groups", [(1, 1), (2, 1), (1, 4), (2, 4)])
def test_padded_1x1_and_identity_kernels_are_the_convs_they_replace(stride, groups):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 8, 9, 9, generator=g, dtype=torch.float64)
    w1 = torch.randn(8, 8 // groups, 1, 1, generator=g, dtype=torch.float64)
    expect = F.conv2d(x, w1, stride=stride, groups=groups)
    got = F.conv2d(x, pad_kernel(w1, (3, 3)), stride=stride, padding=1, groups=groups)
    assert torch.allclose(got, expect, atol=1e-12)
    w5 = F.conv2d(x, pad_kernel(w1, (5, 5)), stride=stride, padding=2, groups=groups)
    assert torch.allclose(w5, expect, atol=1e-12)
    eye = identity_kernel(8, groups, (3, 3))
    assert torch.equal(F.conv2d(x, eye, padding=1, groups=groups), x)


# --------------------------------------------------------------------------------- the blocks

BLOCKS = [   # (ours, timm's, args, kwargs)
    (RepVggBlock, TimmRepVgg, (8, 8), dict(stride=1)),
    (RepVggBlock, TimmRepVgg, (8, 16), dict(stride=2)),
    (RepVggBlock, TimmRepVgg, (8, 8), dict(stride=1, groups=4)),
    (MobileOneBlock, TimmMobileOne, (8, 8), dict(kernel_size=3, stride=1, groups=8, num_conv_branches=4)),
    (MobileOneBlock, TimmMobileOne, (8, 8), dict(kernel_size=3, stride=2, groups=8, num_conv_branches=2)),
    (MobileOneBlock, TimmMobileOne, (8, 8), dict(kernel_size=1, stride=1, num_conv_branches=3)),
    (MobileOneBlock, TimmMobileOne, (8, 16), dict(kernel_size=1, stride=1)),
]


def _timm_kwargs(kw: dict) -> dict:
    kw = dict(kw)
    groups = kw.pop("groups", 1)
    if groups > 1:
        kw["group_size"] = 8 // groups
    return kw


@pytest.mark.parametrize("ours,theirs,args,kw", BLOCKS,
                         ids=[f"{b[0].__name__}-{b[1]}-{b[3]}" for b in BLOCKS])
def test_block_fuses_exactly_and_as_timm_does(ours, theirs, args, kw):
    block = randomize_bn(ours(*args, **kw))
    ref = theirs(*args, **_timm_kwargs(kw)).eval()
    ref.load_state_dict(convert_back(block.state_dict()))
    x = torch.randn(2, args[0], 11, 11)
    with torch.no_grad():
        trained = block(x)
        assert rel_err(trained, ref(x)) <= TOL
        block.reparameterize()
        ref.reparameterize()
        fused = block(x)
    assert block.reparameterized and isinstance(block.reparam_conv, nn.Conv2d)
    assert {n for n, _ in block.named_children()} <= {"reparam_conv", "drop_path", "attn", "act"}
    assert rel_err(fused, trained) <= TOL
    assert rel_err(block.reparam_conv.weight, ref.reparam_conv.weight) <= TOL
    assert rel_err(block.reparam_conv.bias, ref.reparam_conv.bias) <= TOL
    # the fused block still scripts and traces (the branches are None, the forward takes the other arm)
    assert rel_err(torch.jit.script(block)(x), fused) <= TOL
    assert rel_err(torch.fx.symbolic_trace(block)(x), fused) <= TOL


def convert_back(sd: dict) -> dict:
    """Our block keys in timm's (``norm`` -> ``bn``): the inverse of convert_timm_byobnet."""
    out = {k.replace(".norm.", ".bn.") if k.startswith(("conv_kxk", "conv_1x1", "conv_scale")) else k: v
           for k, v in sd.items()}
    out = {k.replace("attn.reduce.", "attn.fc1.").replace("attn.expand.", "attn.fc2."): v for k, v in out.items()}
    assert list(convert_timm_byobnet(out)) == list(sd)
    return out


def test_reparameterize_refuses_training_mode_and_nonfinite_and_is_idempotent():
    block = RepVggBlock(8, 8)
    with pytest.raises(RuntimeError, match="needs eval mode"):
        block.reparameterize()
    assert not block.reparameterized and block.conv_kxk is not None      # untouched
    block.eval()
    with torch.no_grad():
        block.identity.running_var[0] = float("nan")
    with pytest.raises(ValueError, match="not finite"):
        block.reparameterize()
    assert not block.reparameterized and block.identity is not None
    with torch.no_grad():
        block.identity.running_var[0] = 1.0
    block.reparameterize()
    weight = block.reparam_conv.weight.detach().clone()
    block.train()
    block.reparameterize()                       # documented no-op, in any mode
    assert block.reparameterized and torch.equal(block.reparam_conv.weight, weight)


def test_reparameterize_model_copies_refuses_training_and_leaves_other_models_alone():
    model = randomize_bn(convzoo.create_model("repvgg_a0", num_classes=4))
    fused = reparameterize_model(model)
    assert fused is not model and not model.stem.reparameterized and fused.stem.reparameterized
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert convzoo.reparameterize_model is reparameterize_model
    assert reparameterize_model(fused, inplace=True) is fused              # twice: a no-op
    with pytest.raises(RuntimeError, match="eval mode"):
        reparameterize_model(model.train())
    plain = convzoo.create_model("mobilenet_v1", num_classes=4).train()  # nothing to fuse: no error
    assert reparameterize_model(plain, inplace=True) is plain
    with pytest.raises(TypeError, match="nn.Module"):
        reparameterize_model("repvgg_a0")
    with pytest.raises(ValueError, match="kernel_size must be an odd int"):
        RepVggBlock(8, 8, kernel_size=2)
    with pytest.raises(ValueError, match="groups=3 does not divide"):
        MobileOneBlock(8, 8, groups=3)


# ------------------------------------------------------------------------------- the families
# Inference-time (fused) parameters (M) and MACs (G) at 224 px, as the papers count them (RepVGG
# Table 4, MobileOne Table 8): the registered cfgs' paper figures, cited in the family modules.
PAPER = {n: (cfg["paper"]["mparams"], cfg["paper"]["gmacs"])
         for n, cfg in ((n, get_pretrained_cfg(n)) for n in convzoo.list_models(["repvgg_*", "mobileone_*"]))
         if cfg.get("paper", {}).get("fused")}
# RepVGG-A0's 1.52 GFLOPs is the *training-time* count (ours 1.513 G, branches included); the fused
# A0 has 1.361 G (mmpretrain's table says 1.36), while every other row is the fused count.
PAPER_GAP = {"repvgg_a0": -0.104}
NAMES = sorted(PAPER)
# (ours, input size): groups (b1g4), k = 4 branches (s0), squeeze-excite (s4)
OUTPUT_CASES = [("repvgg_a0", 64), ("repvgg_b1g4", 33), ("mobileone_s0", 64), ("mobileone_s4", 65)]
OUTPUT_NAMES = {c[0] for c in OUTPUT_CASES}
# Models above tests/test_models.py's BIG parameters: their registry-wide fusion check runs in the
# slow tier (as tests/test_export_registry.py's HEAVY), skipped with CONVZOO_TEST_HEAVY=0.
HEAVY = {"repvgg_b1", "repvgg_b1g4", "repvgg_b2", "repvgg_b2g4", "repvgg_b3", "repvgg_b3g4"}


def _n(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_the_registry_has_every_variant_timm_has():
    theirs = set(timm.list_models("repvgg_*") + timm.list_models("mobileone_*")) - {"repvgg_d2se"}
    assert set(convzoo.list_models("repvgg_*") + convzoo.list_models("mobileone_*")) == theirs == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_params_cfg_and_macs_equal_timm_and_the_paper(name):
    """Trained form: parameters equal timm's, MACs a hook count on timm's (0.5 %); fused form:
    parameters and MACs the paper's table (2 % / 5 %, A0's MACs: the documented gap)."""
    ours, ref = _meta(convzoo.create_model, name), _meta(timm.create_model, twin(name, "timm"))
    assert _n(ours) == _n(ref)
    if name in OUTPUT_NAMES:   # equal parameters already pin the rest; the branchy graphs cost seconds
        x = torch.empty(1, 3, 224, 224, device="meta")
        assert abs(profile(ours, (3, 224, 224)).macs / hook_macs(ref, x) - 1) <= 0.005
    cfg, tcfg = ours.default_cfg, ref.pretrained_cfg
    for key in ("input_size", "pool_size", "crop_pct", "interpolation", "mean", "std", "num_classes",
                "classifier"):
        assert tuple(cfg[key]) == tuple(tcfg[key]) if isinstance(cfg[key], tuple) else cfg[key] == tcfg[key], key
    assert cfg["first_conv"] == tcfg["first_conv"][0]
    fused = reparameterize_model(ours)
    params, macs = PAPER[name]
    assert abs(_n(fused) / (params * 1e6) - 1) <= 0.02, (name, _n(fused))
    rel = profile(fused, (3, 224, 224)).macs / (macs * 1e9) - 1
    if name in PAPER_GAP:
        assert rel == pytest.approx(PAPER_GAP[name], abs=0.002)
    else:
        assert abs(rel) <= 0.005, f"{name}: fused MACs {rel:+.2%} from the paper"




@pytest.mark.parametrize("name,size", OUTPUT_CASES)
def test_outputs_and_intermediates_equal_timm_after_loading_its_weights(name, size):
    ref = randomize_(_real(timm.create_model, twin(name, "timm"))).eval()
    ours = _real(convzoo.create_model, name).eval()
    assert convzoo.load_weights(ours, ref.state_dict()).layout == "timm"
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        expect, got = ref(x), ours(x)
        assert rel_err(got, expect) <= TOL
        (_, theirs), (_, mine) = ref.forward_intermediates(x), ours.forward_intermediates(x)
        assert [t.shape for t in mine] == [t.shape for t in theirs]
        assert all(rel_err(a, b) <= TOL for a, b in zip(mine, theirs))
        # timm's re-parameterized weights load into our fused model (the same keys); fusion's own
        # exactness is checked with sane statistics below (randomize_ makes S4 ill-conditioned:
        # its float32 output is 8e-4 from float64 in either form)
        ref_fused = timm.utils.reparameterize_model(ref)
        blank = reparameterize_model(_meta(convzoo.create_model, name)).to_empty(device="cpu").eval()
        convzoo.load_weights(blank, ref_fused.state_dict())
        assert rel_err(blank(x), ref_fused(x)) <= TOL


def test_features_only_levels_equal_timm():
    ours = convzoo.create_model("mobileone_s0", features_only=True)
    ref = timm.create_model("mobileone_s0", features_only=True)
    assert ours.feature_info.channels() == ref.feature_info.channels()
    assert ours.feature_info.reduction() == ref.feature_info.reduction()
    maps = ours.eval()(torch.randn(1, 3, 64, 64))
    assert [m.shape[1] for m in maps] == ref.feature_info.channels()


# ------------------------------------------------------------------------ every registered model
def _uses_reparam_blocks(name: str) -> bool:
    """Whether the builder's family module holds a re-parameterizable block class (cheap: building
    all registered models on meta to look costs ~8 s at collection)."""
    module = sys.modules[model_entrypoint(name).__module__]
    return any(isinstance(v, type) and issubclass(v, Reparameterizable) for v in vars(module).values())


REPARAM = [n for n in convzoo.list_models() if _uses_reparam_blocks(n)]


def test_registry_scan_finds_the_reparameterizable_families():
    assert set(NAMES) <= set(REPARAM)
    for name in ("repvgg_a0", "mobileone_s0", "efficientnet_b0"):   # the scan agrees with the modules
        has = any(hasattr(m, "reparameterize") for m in _meta(convzoo.create_model, name).modules())
        assert has == (name in REPARAM), name


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow, pytest.mark.skipif(
    not RUN_HEAVY, reason="slow tier skipped: CONVZOO_TEST_HEAVY=0")]) if n in HEAVY else n for n in REPARAM])
def test_registry_reparameterize_model_equals_the_trained_form(name):
    """Eval mode, random BN statistics and affine parameters (big models filled cheaply as in
    tests/test_models.py), a 32 px batch of two: the fused model equals the trained one."""
    model, _ = _build(name, num_classes=5)
    model = randomize_bn(model)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(x)
        fused = reparameterize_model(model, inplace=True)
        out = fused(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert all(m.reparameterized for m in fused.modules() if hasattr(m, "reparameterize"))
    assert rel_err(out, ref) <= TOL, f"{name}: fused differs by {rel_err(out, ref):.1e}"


def test_fused_repvgg_exports_to_onnx_with_ort_parity(tmp_path):
    from convzoo.export import to_onnx, verify_onnx
    model = reparameterize_model(randomize_bn(convzoo.create_model("repvgg_a0", num_classes=5)))
    path = to_onnx(model, tmp_path / "a0.onnx", input_size=(3, 32, 32))
    assert verify_onnx(model, path, torch.randn(2, 3, 32, 32), rtol=TOL) <= TOL


@pytest.mark.parametrize("name", ["repvgg_a0", "mobileone_s0"])
def test_training_forward_with_stochastic_depth_equals_timm(name):
    """Train mode, drop_path_rate 0.1: the same per-block rates (linear over all blocks, identity
    blocks only) and the same masks in the same order, so the training-mode forward gives timm's outputs (to
    1e-3: timm's rates are float32 linspace values and it scales the mask, not the product, and
    batch statistics of 4 samples at the 1x1 last stage magnify a 1-ulp difference; without drop
    path the step is exact, checked first)."""
    def rates(m):
        return [getattr(b.drop_path, "p", getattr(b.drop_path, "drop_prob", 0.0))
                for s in m.stages for b in s]
    ref = timm.create_model(name, drop_path_rate=0.1, num_classes=5)
    ours = convzoo.create_model(name, drop_path_rate=0.1, num_classes=5)
    assert rates(ours) == pytest.approx(rates(ref), abs=1e-7) and max(rates(ours)) > 0.09
    x = torch.randn(4, 3, 32, 32)
    # no drop path: the same training-mode function to rounding
    plain_ref, plain = timm.create_model(name, num_classes=5), convzoo.create_model(name, num_classes=5)
    convzoo.load_weights(plain, plain_ref.state_dict())
    assert rel_err(plain.train()(x), plain_ref.train()(x)) <= 1e-6
    convzoo.load_weights(ours, ref.state_dict())
    outs = []
    for model in (ref, ours):
        torch.manual_seed(7)                  # the same drop-path masks
        out = model.train()(x)
        out.logsumexp(1).mean().backward()    # and every parameter gets a gradient through it
        outs.append(out.detach())
    assert rel_err(outs[1], outs[0]) <= 1e-3
