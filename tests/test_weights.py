"""load_weights / save_weights: sources, wrappers, layouts, precise errors, head reset, input adaption.

Oracles: timm's and torchvision's own models (outputs after loading), timm's ``adapt_input_conv``,
and the safetensors reader.
"""
from __future__ import annotations

import os
import warnings

import pytest
import timm
import torch
import torchvision
from safetensors import safe_open
from timm.models import adapt_input_conv as timm_adapt_input_conv

import convzoo
from convzoo.weights import WeightsMismatchError, adapt_input_conv, read_state_dict


@pytest.fixture(scope="module")
def timm_b0():
    torch.manual_seed(1)
    m = timm.create_model("efficientnet_b0").eval()
    with torch.no_grad():   # non-trivial BN statistics
        for name, t in m.state_dict().items():
            if name.endswith("running_mean"):
                t.normal_(0, 0.1)
            elif name.endswith("running_var"):
                t.uniform_(0.5, 1.5)
    return m


@pytest.fixture(scope="module")
def ours_b0():
    return convzoo.create_model("efficientnet_b0").eval()


def _same_outputs(a, b, x=None):
    x = torch.randn(2, 3, 64, 64) if x is None else x
    with torch.no_grad():
        return (a(x) - b(x)).abs().max().item() <= 1e-4


# ------------------------------------------------------------------------------ sources
def test_state_dict_source_with_detected_layout(timm_b0, ours_b0):
    result = convzoo.load_weights(ours_b0, timm_b0.state_dict())
    assert result.layout == "timm" and not result.missing and not result.unexpected
    assert _same_outputs(ours_b0, timm_b0)


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "module_prefix", "compiled_prefix"])
def test_pytorch_checkpoint_files_and_wrappers(tmp_path, timm_b0, ours_b0, wrap):
    sd = timm_b0.state_dict()
    obj = {"plain": sd, "state_dict": {"state_dict": sd, "epoch": 3}, "model": {"model": sd, "args": {}},
           "module_prefix": {f"module.{k}": v for k, v in sd.items()},
           "compiled_prefix": {f"_orig_mod.{k}": v for k, v in sd.items()}}[wrap]
    path = tmp_path / "ckpt.pth"
    torch.save(obj, path)
    with torch.no_grad():
        ours_b0.stem.conv.weight.zero_()        # so a silent no-op load would fail
    assert convzoo.load_weights(ours_b0, path).layout == "timm"
    assert _same_outputs(ours_b0, timm_b0)


def test_ema_wrapper_is_picked_on_request(tmp_path, timm_b0):
    sd = timm_b0.state_dict()
    ema = {k: (v + 1 if v.is_floating_point() else v) for k, v in sd.items()}
    path = tmp_path / "train.pth"
    torch.save({"state_dict": sd, "state_dict_ema": ema}, path)
    assert torch.equal(read_state_dict(path)["conv_stem.weight"], sd["conv_stem.weight"])
    assert torch.equal(read_state_dict(path, use_ema=True)["conv_stem.weight"], ema["conv_stem.weight"])


def test_safetensors_file_and_torchvision_layout(tmp_path):
    from safetensors.torch import save_file
    tv = torchvision.models.mobilenet_v2().eval()
    path = tmp_path / "mnv2.safetensors"
    save_file({k: v.contiguous() for k, v in tv.state_dict().items()}, str(path))
    ours = convzoo.create_model("mobilenet_v2").eval()
    assert convzoo.load_weights(ours, path, layout="torchvision").layout == "torchvision"
    assert _same_outputs(ours, tv)


def test_pickled_module_is_refused(tmp_path):
    path = tmp_path / "whole_model.pth"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(ValueError, match="weights_only"):
        convzoo.load_weights(convzoo.create_model("mobilenet_v1"), path)


def test_missing_file_and_bad_source():
    model = convzoo.create_model("mobilenet_v1")
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        convzoo.load_weights(model, "nope.safetensors")
    with pytest.raises(TypeError, match="state_dict"):
        convzoo.load_weights(model, model)
    with pytest.raises(ValueError, match="layout"):
        convzoo.load_weights(model, model.state_dict(), layout="keras")


# ------------------------------------------------------------------------------ errors
def test_mismatch_error_names_every_key(timm_b0):
    sd = dict(timm_b0.state_dict())
    del sd["blocks.1.0.conv_dw.weight"]                              # -> missing
    sd["blocks.9.0.extra.weight"] = torch.zeros(1)                   # -> unexpected
    sd["conv_head.weight"] = torch.zeros(1280, 320, 3, 3)            # -> shape mismatch
    ours = convzoo.create_model("efficientnet_b0")
    before = ours.stages[1][0].dw.conv.weight.clone()
    with pytest.raises(WeightsMismatchError) as err:
        convzoo.load_weights(ours, sd, layout="timm")
    msg = str(err.value)
    assert "missing" in msg and "stages.1.0.dw.conv.weight" in msg
    assert "unexpected" in msg and "blocks.9.0.extra.weight" in msg
    assert "neck.conv.weight: (1280, 320, 3, 3) vs (1280, 320, 1, 1)" in msg
    assert torch.equal(ours.stages[1][0].dw.conv.weight, before)     # nothing loaded
    result = convzoo.load_weights(ours, sd, layout="timm", strict=False)
    assert result.missing == ["stages.1.0.dw.conv.weight"]
    assert result.unexpected == ["blocks.9.0.extra.weight"]
    assert [m[0] for m in result.mismatched] == ["neck.conv.weight"]
    assert torch.equal(ours.stem.conv.weight, timm_b0.conv_stem.weight)


def test_unrecognised_layout():
    with pytest.raises(ValueError, match="could not recognise"):
        convzoo.load_weights(convzoo.create_model("mobilenet_v1"), {"foo.weight": torch.zeros(2)})


# -------------------------------------------------------------------- head and first conv
def test_head_of_another_size_is_reset_with_a_warning(timm_b0):
    ours = convzoo.create_model("efficientnet_b0", num_classes=10).eval()
    head = ours.head.fc.weight.clone()
    with pytest.warns(UserWarning, match="1000 outputs, the model has 10"):
        result = convzoo.load_weights(ours, timm_b0.state_dict())
    assert result.head_reset
    assert torch.equal(ours.head.fc.weight, head)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours.forward_head(ours.forward_features(x), pre_logits=True),
                              timm_b0.forward_head(timm_b0.forward_features(x), pre_logits=True),
                              atol=1e-5)


def test_no_head_model_drops_the_checkpoint_head(timm_b0):
    ours = convzoo.create_model("efficientnet_b0", num_classes=0)
    with pytest.warns(UserWarning, match="classifier"):
        assert convzoo.load_weights(ours, timm_b0.state_dict()).head_reset


@pytest.mark.parametrize("in_chans", [1, 2, 5])
def test_first_conv_is_adapted_like_timm(timm_b0, in_chans):
    ours = convzoo.create_model("efficientnet_b0", in_chans=in_chans).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # adapting is not a head reset: no warning
        result = convzoo.load_weights(ours, timm_b0.state_dict())
    assert result.first_conv_adapted
    expected = timm_adapt_input_conv(in_chans, timm_b0.conv_stem.weight.detach().clone())
    assert torch.allclose(ours.stem.conv.weight, expected)
    if in_chans == 1:   # summed RGB filters on a grey image == RGB filters on the image repeated
        x = torch.randn(2, 1, 64, 64)
        with torch.no_grad():
            assert (ours(x) - timm_b0(x.repeat(1, 3, 1, 1))).abs().max().item() <= 1e-4


def test_adapt_input_conv_any_dims():
    w = torch.randn(4, 3, 3, 3, 3)
    assert torch.allclose(adapt_input_conv(1, w), w.sum(1, keepdim=True))
    assert torch.allclose(adapt_input_conv(6, w), torch.cat([w, w], 1) * 0.5)


def test_features_only_model_loads(timm_b0):
    feats = convzoo.create_model("efficientnet_b0", features_only=True).eval()
    convzoo.load_weights(feats, timm_b0.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ours = feats(x)[-1]
        ref = timm_b0.blocks(timm_b0.bn1(timm_b0.conv_stem(x)))
    assert (ours - ref).abs().max().item() <= 1e-4


# ------------------------------------------------------------------------------ saving
def test_save_roundtrip_metadata_and_atomicity(tmp_path, ours_b0):
    path = tmp_path / "sub" / "b0.safetensors"
    assert convzoo.save_weights(ours_b0, path, metadata={"note": "x"}) == path
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        keys = set(f.keys())
    assert meta["note"] == "x" and meta["architecture"] == "efficientnet_b0"
    assert keys == set(ours_b0.state_dict())
    fresh = convzoo.create_model("efficientnet_b0").eval()
    assert convzoo.load_weights(fresh, path).layout == "convzoo"
    for k, v in ours_b0.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k
    assert os.listdir(path.parent) == ["b0.safetensors"]            # no temp file left behind


def test_failed_save_keeps_the_old_file(tmp_path, ours_b0, monkeypatch):
    import safetensors.torch
    path = tmp_path / "b0.safetensors"
    path.write_bytes(b"old")

    def boom(*a, **k):
        open(a[1], "wb").write(b"partial")
        raise OSError("disk full")
    monkeypatch.setattr(safetensors.torch, "save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        convzoo.save_weights(ours_b0, path)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["b0.safetensors"]
    with pytest.raises(TypeError, match="str to str"):
        convzoo.save_weights(ours_b0, tmp_path / "m.safetensors", metadata={"epoch": 3})


def test_own_weights_move_between_padding_modes(tmp_path, ours_b0):
    """tf_same convs are conv subclasses with the plain keys: one checkpoint serves both padding modes."""
    path = convzoo.save_weights(ours_b0, tmp_path / "b0.safetensors")
    tf = convzoo.create_model("tf_efficientnet_b0")
    assert convzoo.load_weights(tf, path).layout == "convzoo"
    assert torch.equal(tf.stages[1][0].dw.conv.weight, ours_b0.stages[1][0].dw.conv.weight)
    back = convzoo.create_model("efficientnet_b0")
    convzoo.load_weights(back, tf.state_dict())
    assert torch.equal(back.stem.conv.weight, ours_b0.stem.conv.weight)
