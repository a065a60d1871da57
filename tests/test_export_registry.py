"""Every registered model through BN folding, ONNX export and ONNX Runtime parity (the fast tier one
model per structural kind, the rest slow); split from test_export.py. Oracle: the eager model before
any transformation, with random BN statistics."""
from __future__ import annotations

import os

import pytest
import torch

import convzoo
from convzoo.export import (fold_batchnorm, optimize, to_onnx, verify_onnx)
from convzoo.blocks import reparameterize_model
from convzoo.layers import SqueezeExcite

from _export_checks import RUN_HEAVY, TOL
from _helpers import randomize_bn, rel_err


# --------------------------------------------------------------------------- every registered model

# Param-heavy models (tens to hundreds of millions of weights): building, folding and exporting them
# takes seconds each on an idle 2-core machine (convnext_xlarge: 23 s) but minutes under load
# (~400 s). They run in the slow tier, which CONVZOO_TEST_HEAVY=0 skips.
HEAVY = {"c3d", "r3d_18", "r2plus1d_18", "convnext_small", "convnext_base", "convnext_large",
         "convnext_xlarge", "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
         "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l", "convnextv2_base",
         "convnextv2_large", "convnextv2_huge", "mobilenetv4_conv_large"}
HEAVY |= {f"tf_{n}" for n in HEAVY} | {"repvgg_b1", "repvgg_b1g4", "repvgg_b2", "repvgg_b2g4", "repvgg_b3",
                                      "repvgg_b3g4"}
# One ONNX export per structural kind in the fast tier; the other models' exports are in the slow
# tier. A family this list does not know yet is exported in the fast tier.
ONNX_FAST = {"efficientnet_b0", "tf_efficientnet_b0", "mobilenet_v1", "mobilenet_v2", "convnext_tiny",
             "waveform_m3", "waveform_m11_dws", "waveform_m34_res", "c3d_small", "r2plus1d_small",
             "frame2d_small", "stack2d_small", "variant_conv", "variant_convnext", "variant_dwsep",
             "variant_fused", "variant_mbconv", "variant_spatial", "variant_uib", "variant_convnextv2",
             "mobilenetv4_conv_small", "convnextv2_atto", "repvgg_a0", "mobileone_s0", "mobileone_s4"}
KNOWN_FAMILIES = ("efficientnet", "tf_efficientnet", "mobilenet", "convnext", "waveform", "variant",
                  "c3d", "r3d", "r2plus1d", "repvgg", "mobileone")
# Folded above, not exported: one ONNX protobuf holds at most 2 GB of weights.
ONNX_TOO_BIG = {"convnextv2_huge": "660M float32 weights (2.6 GB) exceed the 2 GB ONNX protobuf limit"}
SPATIAL_CAP = {1: (2000,), 2: (32, 32), 3: (8, 32, 32)}


def small_input_size(model) -> tuple:
    """``default_cfg["input_size"]`` shrunk to at most SPATIAL_CAP, never below ``min_input_size``;
    the full size when the model refuses the small one (e.g. C3D's fc6 fixes 16 x 112 x 112)."""
    cfg = model.default_cfg
    size = tuple(cfg["input_size"])
    low = tuple(cfg.get("min_input_size") or (1,) * len(size))
    small = size[:1] + tuple(max(lo, min(s, c)) for s, lo, c in
                             zip(size[1:], low[1:], SPATIAL_CAP[model.dims]))
    try:
        model.check_input(torch.empty(1, *small, device="meta"))
    except ValueError:
        return size
    return small


def build(name: str):
    try:
        model = convzoo.create_model(name)
    except ValueError as e:   # e.g. "searched" needs a spec file: nothing to build by default
        pytest.skip(f"{name} cannot be built with defaults: {e}")
    return randomize_bn(model)


def check_fold(name: str):
    # re-parameterizable nets (RepVGG, MobileOne) fuse their branches first, as export does: an
    # identity-branch BN follows no conv, it folds only into the fused conv (tests/test_reparam.py)
    model = reparameterize_model(build(name), inplace=True)
    x = torch.randn(2, *small_input_size(model))
    with torch.no_grad():
        ref = model(x)
        folded = fold_batchnorm(model)
        out = folded(x)
    assert folded.unfolded_bn == [], f"{name}: BatchNorm left unfolded: {folded.unfolded_bn}"
    assert rel_err(out, ref) <= TOL, name
    return model


def check_onnx(name: str, tmp_path, model=None):
    model = model if model is not None else build(name)
    size = small_input_size(model)
    path = to_onnx(model, tmp_path / f"{name}.onnx", input_size=size)
    # two samples through the dynamic batch axis; verify_onnx raises if above TOL
    assert verify_onnx(model, path, torch.randn(2, *size), rtol=TOL) <= TOL
    os.remove(path)      # param-heavy exports are up to 1.4 GB: pytest keeps tmp folders of 3 runs
    if any(isinstance(m, SqueezeExcite) and m.dims == 2 for m in model.modules()):
        # a static batch also broadcasts squeeze-excite with a Resize (ort_rewrites)
        path = to_onnx(model, tmp_path / f"{name}_b2.onnx", input_size=size, dynamic_batch=False, batch=2)
        assert verify_onnx(model, path, torch.randn(2, *size), rtol=TOL) <= TOL
        os.remove(path)


def _tier(names, heavy):
    return [n for n in names if (n in HEAVY) == heavy]


@pytest.mark.parametrize("name", _tier(convzoo.list_models(), heavy=False))
def test_registry_fold_and_onnx_match_eager(name, tmp_path):
    model = check_fold(name)
    if name in ONNX_FAST or not name.startswith(KNOWN_FAMILIES):
        check_onnx(name, tmp_path, model)


@pytest.mark.parametrize("name", _tier(convzoo.list_models(), heavy=False))
def test_registry_optimize_eager_matches(name):
    """optimize() (fold + channels_last per tensor rank) on every model: a video model may hold 2D
    convs (frame-wise nets), which a model-wide channels_last_3d conversion used to reject."""
    model = build(name)
    x = torch.randn(2, *small_input_size(model))
    with torch.no_grad():
        assert rel_err(optimize(model, example_input=x[:1])(x), model(x)) <= TOL, name


@pytest.mark.parametrize("name,size", [("mobilenet_v2", (3, 64, 64)), ("tf_efficientnet_b0", (3, 64, 64)),
                                       ("r2plus1d_small", None), ("frame2d_small", None),
                                       ("waveform_m5", None), ("convnext_tiny", (3, 64, 64)),
                                       ("mobilenet_v2", (3, 32, 32))])
def test_optimize_onednn_on_models_or_one_line_refusal(name, size):
    """The oneDNN Graph path either matches eager or refuses with one line naming the model (the
    fuser in torch 2.14 fails on ConvNeXt and on nets whose last maps are 1 x 1, e.g. 32 x 32
    inputs to a /32 network)."""
    if name not in convzoo.list_models():
        pytest.skip(f"{name} not registered")
    model = build(name)
    x = torch.randn(2, *(size or small_input_size(model)))
    try:
        fast = optimize(model, compile="onednn", example_input=x)
    except RuntimeError as e:
        assert str(e).startswith(f"oneDNN Graph cannot run {type(model).__name__} (")
        assert "\n" not in str(e) and "use compile=True" in str(e)
        return
    with torch.no_grad():
        assert rel_err(fast(x), model(x)) <= TOL


@pytest.mark.slow
@pytest.mark.skipif(not RUN_HEAVY, reason="slow tier skipped: CONVZOO_TEST_HEAVY=0")
@pytest.mark.parametrize("name", [n for n in convzoo.list_models()
                                  if n not in ONNX_FAST and n.startswith(KNOWN_FAMILIES)])
def test_registry_heavy_fold_and_onnx_match_eager(name, tmp_path):
    model = check_fold(name) if name in HEAVY else build(name)
    if name in ONNX_TOO_BIG:
        pytest.skip(ONNX_TOO_BIG[name])
    check_onnx(name, tmp_path, model)
