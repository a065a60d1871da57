"""timm's and torchvision's model contract on every registered model, with their libraries as oracles.

Shapes of the whole registry are checked on the meta device (no weights allocated, so even
EfficientNet-B7 at 600 px costs nothing): ``default_cfg`` keys and ``pool_size``, ``num_features`` /
``head_hidden_size``, ``forward_intermediates`` / ``prune_intermediate_layers``,
``reset_classifier(num_classes, global_pool)``. Values are checked on small models against forward
hooks, timm's pretrained cfgs, torchvision's builders, and one training step of each twin pair from
the same weights (running statistics, parameters and outputs).
"""
from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from torch import nn

import convzoo
from convzoo.registry import get_pretrained_cfg
from convzoo.weights import convert_state_dict
from _helpers import randomize_bn, rel_err
from _tiers import tiered
from _twins import twin

NAMES = [n for n in convzoo.list_models() if n != "searched"]   # searched needs a spec file
TIMM_KEYS = ("architecture", "input_size", "pool_size", "mean", "std", "interpolation", "crop_pct",
             "fixed_input_size", "num_classes", "first_conv", "classifier", "modality")


def _meta(name, **kwargs):
    with torch.device("meta"):
        return convzoo.create_model(name, **kwargs).eval()


@pytest.mark.parametrize("name", tiered(NAMES))   # other widths/depths: slow tier
def test_timm_contract_shapes(name):
    model = _meta(name)
    cfg = model.default_cfg
    assert all(k in cfg for k in TIMM_KEYS), [k for k in TIMM_KEYS if k not in cfg]
    sd = model.state_dict()
    assert cfg["first_conv"] + ".weight" in sd and cfg["classifier"] + ".weight" in sd
    assert model.num_features > 0 and model.head_hidden_size > 0
    x = torch.empty(2, *cfg["input_size"], device="meta")
    with torch.device("meta"):
        feats = model.forward_features(x)
        assert feats.shape[1] == model.num_features
        if cfg["pool_size"] is not None:
            assert tuple(feats.shape[2:]) == tuple(cfg["pool_size"]), (feats.shape, cfg["pool_size"])
        assert model.forward_head(feats, pre_logits=True).shape == (2, model.head_hidden_size)
        final, maps = model.forward_intermediates(x)
        assert final.shape == feats.shape and len(maps) == len(model.feature_info)
        assert [m.shape[1] for m in maps] == model.feature_info.channels()
        last2 = model.forward_intermediates(x, indices=2, intermediates_only=True)
        assert [m.shape for m in last2] == [m.shape for m in maps[-2:]]
        model.reset_classifier(0)
        assert model.num_classes == 0 and model(x).shape == (2, model.head_hidden_size)
        if feats.dim() > 2:
            # unpooled: the map itself, or the head's hidden layer at every position (MobileNetV3)
            model.reset_classifier(0, "")
            assert model(x).shape == (2, model.head_hidden_size, *feats.shape[2:])
        kept = model.prune_intermediate_layers(indices=(0, 1))
        assert kept == [0, 1]
        pruned = model.forward_intermediates(x, indices=kept, intermediates_only=True)
        assert [m.shape for m in pruned] == [m.shape for m in maps[:2]]
        assert model(x).shape == maps[1].shape   # head pruned too: the last level kept, unpooled


def test_forward_intermediates_values_equal_hooks_on_the_modules():
    """Oracle: forward hooks on the stem and stages of the same model, in an ordinary forward."""
    for name, size in (("efficientnet_b0", 64), ("convnext_tiny", 64), ("variant_mbconv", 16)):
        model = convzoo.create_model(name).eval()
        seen = {}
        for info in model.feature_info:
            model.get_submodule(info["module"]).register_forward_hook(
                lambda m, i, o, key=info["module"], seen=seen: seen.__setitem__(key, o))
        x = torch.randn(1, model.in_chans, size, size)
        with torch.no_grad():
            final, maps = model.forward_intermediates(x)
            feats = model.forward_features(x)
            nhwc = model.forward_intermediates(x, indices=[-1], output_fmt="NHWC",
                                               intermediates_only=True)
            fx = convzoo.create_model(name, features_only=True, feature_cls="dict", out_indices=2)
            fx.model.load_state_dict(model.state_dict())
            dict_maps = fx.eval()(x)
        assert torch.equal(final, feats)
        for m, info in zip(maps, model.feature_info):
            assert torch.equal(m, seen[info["module"]])
        assert torch.equal(nhwc[0], maps[-1].permute(0, 2, 3, 1))
        assert list(dict_maps) == model.feature_info.module_name()[-2:]
        assert all(torch.equal(a, b) for a, b in zip(dict_maps.values(), maps[-2:]))
    with pytest.raises(ValueError, match="output_fmt must be channels-first .'NCHW'. or channels-last"):
        model.forward_intermediates(x, output_fmt="CHWN")


def test_list_models_filters_and_modality():
    video = {"c3d", "c3d_small", "frame2d_small", "r2plus1d_18", "r2plus1d_small", "r3d_18",
             "stack2d_small"}
    audio = {f"waveform_{m}" for m in ("m3", "m5", "m11", "m18", "m34_res", "m11_dws", "m18_dws")}
    assert set(convzoo.list_models(modality="video")) == video
    assert set(convzoo.list_models(modality="audio")) == audio
    image = set(convzoo.list_models(modality="image"))
    assert image == set(convzoo.list_models()) - video - audio and "efficientnet_b0" in image
    assert convzoo.list_models("convnext_*", exclude_filters=["*large"]) == [
        "convnext_base", "convnext_small", "convnext_tiny"]
    assert convzoo.list_models(filter=["r3d*", "c3d"]) == ["c3d", "r3d_18"]
    assert convzoo.list_models(module="convnext") == convzoo.list_models("convnext_*")
    assert convzoo.list_models(module=["c3d", "video_resnet"]) == ["c3d", "r2plus1d_18", "r3d_18"]
    assert convzoo.list_models(pretrained=True) == []          # nothing downloadable
    assert convzoo.list_models("waveform_m5", modality="audio") == ["waveform_m5"]
    assert get_pretrained_cfg("r3d_18")["modality"] == "video"


def test_pretrained_loads_a_local_file_only(tmp_path, monkeypatch):
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))           # empty caches
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torchhub"))
    ref = timm.create_model("mobilenetv2_035").eval()
    path = tmp_path / "mnv2.pth"
    torch.save(ref.state_dict(), path)
    ours = convzoo.create_model("mobilenet_v2", width_mult=0.35, pretrained=True,
                                pretrained_cfg_overlay=dict(file=str(path))).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours(x), ref(x))
    with pytest.raises(FileNotFoundError, match="no local weights.*downloads nothing.*pretrained_cfg_overlay=dict"):
        convzoo.create_model("efficientnet_b0", pretrained=True)
    with pytest.raises(ValueError, match="downloads nothing.*load_weights"):
        convzoo.create_model("efficientnet_b0", weights="DEFAULT")
    m = convzoo.create_model("convnext_tiny", pretrained=False, num_classes=0, global_pool="")
    assert m(torch.randn(1, 3, 64, 64)).shape == (1, 768, 2, 2)


def test_features_only_timm_arguments_and_c3d_trunk_at_any_size():
    fx = convzoo.create_model("efficientnet_b0", features_only=True, feature_cls="getter",
                              out_indices=3)
    assert fx.feature_info.reduction() == [8, 16, 32]
    from convzoo.models.base import FeatureExtractor
    c3d = convzoo.create_model("c3d", features_only=True, out_indices=(0, 1, 2))
    maps = c3d(torch.randn(1, 3, 4, 32, 32))                  # fc6 would need 16 x 112 x 112
    assert [m.shape[1] for m in maps] == [64, 128, 256]
    assert get_pretrained_cfg("c3d")["fixed_input_size"] is True
    with pytest.raises(ValueError, match="16 x 112 x 112"):
        FeatureExtractor(c3d.model)(torch.randn(1, 3, 4, 32, 32))   # all levels: fc6 too
    with pytest.raises(ValueError, match="feature_cls must be one of"):
        convzoo.create_model("c3d", features_only=True, feature_cls="nope")


@pytest.mark.parametrize("name,arg", [("efficientnet_b0", "foo"), ("mobilenet_v1", "se_ratio"),
                                      ("convnext_tiny", "padding"), ("c3d", "width_mult"),
                                      ("r3d_18", "zero_init_residual"), ("waveform_m5", "norm"),
                                      ("c3d_small", "depth"), ("variant_conv", "padding")])
def test_unsupported_argument_names_argument_and_family(name, arg):
    with pytest.raises(ValueError, match=rf"^{name} \(\w+\) does not take '{arg}'"):
        convzoo.create_model(name, **{arg: 1})


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenetv3_small_100", "mobilenet_v3_large",
                                  "efficientnet_b0", "efficientnet_lite0", "efficientnet_v2_s"])
def test_mb_families_take_every_mbnet_option(name):
    # the MB families spell their signatures out (no **kwargs forwarding): each still takes every
    # option of MBNet, and a wrong keyword is refused in one line that lists them
    import inspect
    from convzoo.models._mbnet import MBNet
    options = [p for p in inspect.signature(MBNet).parameters.values()
               if p.kind == p.KEYWORD_ONLY and p.name != "default_cfg"]
    with pytest.raises(ValueError, match=rf"^{name} \([^)]+\) does not take 'foo'; it takes ") as e:
        convzoo.create_model(name, foo=1)
    assert {p.name for p in options} <= set(str(e.value).split("; it takes ")[1].split(", "))


@pytest.mark.parametrize("name", ["c3d", "r3d_18", "waveform_m5", "c3d_small", "variant_conv",
                                  "mobilenet_v1"])
def test_drop_path_rate_is_never_dropped_silently(name):
    convzoo.create_model(name, drop_path_rate=0.0)             # "none" is accepted
    with pytest.raises(ValueError, match="no stochastic depth: drop_path_rate must be 0"):
        convzoo.create_model(name, drop_path_rate=0.1)


def test_torchvision_builder_arguments():
    from convzoo.models.efficientnet import efficientnet_b0
    from convzoo.models.mobilenet import mobilenet_v2
    setting = [[1, 16, 1, 1], [6, 24, 2, 2]]
    ours = mobilenet_v2(weights=None, progress=False, inverted_residual_setting=setting)
    tv = torchvision.models.mobilenet_v2(inverted_residual_setting=setting)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in tv.parameters())
    gn = mobilenet_v2(norm_layer=lambda c: nn.GroupNorm(1, c))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in gn.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in gn.modules())
    assert mobilenet_v2(dropout=0.3).head.drop.p == 0.3
    m = efficientnet_b0(stochastic_depth_prob=0.2)
    tv = torchvision.models.efficientnet_b0()
    tv_p = [x.p for x in tv.modules() if type(x).__name__ == "StochasticDepth"]
    ours_p = [b.drop_path.p if hasattr(b.drop_path, "p") else 0.0 for s in m.stages for b in s]
    assert ours_p == pytest.approx(tv_p)
    with pytest.raises(ValueError, match="not both"):
        efficientnet_b0(stochastic_depth_prob=0.2, drop_path_rate=0.1)


def test_default_cfg_matches_the_checkpoints_the_model_loads():
    for ours in ("mobilenet_v1", "tf_efficientnet_v2_s", "tf_efficientnet_v2_l", "tf_efficientnet_b0",
                 "efficientnet_b0"):
        cfg, ref = get_pretrained_cfg(ours), timm.models.get_pretrained_cfg(twin(ours, "timm")).to_dict()
        for key in ("mean", "std", "interpolation"):
            assert cfg[key] == ref[key], (ours, key)


SUCCESSORS = [f"mobilenetv3_small_{w}" for w in ("050", "075", "100")] + \
    [f"mobilenetv4_conv_{v}" for v in ("small", "medium", "large")] + \
    [f"convnextv2_{v}" for v in ("atto", "femto", "pico", "nano", "tiny", "base", "large", "huge")]


@pytest.mark.parametrize("name", SUCCESSORS)
def test_successor_default_cfgs_equal_timms(name):
    cfg, ref = get_pretrained_cfg(name), timm.models.get_pretrained_cfg(name).to_dict()
    for key in ("input_size", "pool_size", "crop_pct", "crop_mode", "interpolation", "mean", "std",
                "num_classes", "fixed_input_size", "test_input_size"):
        assert cfg.get(key) == ref.get(key), (name, key, cfg.get(key), ref.get(key))


def test_register_model_holds_the_cfg_once():
    # the cfg handed to register_model is what get_pretrained_cfg describes and what build() gives
    # the model as default_cfg (copies: editing one changes neither the registry nor the other)
    import convzoo.registry as reg
    from convzoo.models._builder import build
    from convzoo.models.variants import VariantNet

    def _test_cfg_net(**kwargs):
        return build("_test_cfg_net", "VariantNet", VariantNet, kwargs, block="conv")
    cfg = dict(get_pretrained_cfg("variant_conv"), architecture="_test_cfg_net", crop_pct=0.5)
    reg.register_model(cfg=cfg)(_test_cfg_net)
    try:
        described = get_pretrained_cfg("_test_cfg_net")
        assert described == cfg
        described["crop_pct"] = 0.1
        model = convzoo.create_model("_test_cfg_net")
        assert model.default_cfg["crop_pct"] == 0.5 and get_pretrained_cfg("_test_cfg_net") == cfg
        with pytest.raises(ValueError, match="builder 'variant_dwsep' was given the cfg of '_test_cfg_net'"):
            reg.register_model(cfg=cfg)(convzoo.registry.model_entrypoint("variant_dwsep"))
    finally:
        reg._MODELS.pop("_test_cfg_net", None)
        reg._CFGS.pop("_test_cfg_net", None)



# (ours, our kwargs, library, their kwargs, input shape): each pair with its defaults, the twin the
# model's registered cfg names (cfg["twins"]). Dropout is given to timm because timm's create_model
# defaults it to 0 (ours: the paper's, as torchvision). Stochastic depth draws the same masks in the
# same order in both nets.
TWINS = [
    ("efficientnet_b0", {}, "timm", {"drop_rate": 0.2}, (4, 3, 64, 64)),
    ("efficientnet_b0", {"stochastic_depth_prob": 0.2}, "tv", {}, (4, 3, 64, 64)),
    ("tf_efficientnet_b0", {}, "timm", {"drop_rate": 0.2}, (4, 3, 65, 65)),
    ("efficientnet_v2_s", {}, "tv", {}, (4, 3, 64, 64)),
    ("tf_efficientnet_v2_s", {}, "timm", {"drop_rate": 0.2}, (4, 3, 65, 65)),
    ("mobilenet_v2", {}, "tv", {}, (4, 3, 64, 64)),
    ("mobilenet_v1", {}, "timm", {}, (4, 3, 64, 64)),
    ("convnext_tiny", {}, "timm", {}, (4, 3, 64, 64)),
    ("convnext_tiny", {"stochastic_depth_prob": 0.1}, "tv", {}, (4, 3, 64, 64)),
    ("r3d_18", {}, "tv", {}, (2, 3, 4, 32, 32)),
    ("mobilenet_v3_small", {}, "tv", {}, (4, 3, 64, 64)),
    ("mobilenetv4_conv_small", {}, "timm", {}, (4, 3, 64, 64)),
    ("convnextv2_atto", {"drop_path_rate": 0.1}, "timm", {"drop_path_rate": 0.1}, (4, 3, 64, 64)),
]


@pytest.mark.parametrize("name,kw,lib,ref_kw,shape", TWINS,
                         ids=[f"{t[0]}-vs-{t[2]}" for t in TWINS])
def test_one_training_step_equals_the_twin(name, kw, lib, ref_kw, shape):
    ref_name = twin(name, lib)
    if lib == "timm":
        ref = timm.create_model(ref_name, **ref_kw)
    else:
        ref = torchvision.models.get_model(ref_name, **ref_kw)
    randomize_bn(ref)
    ours = convzoo.create_model(name, **kw)
    convzoo.load_weights(ours, ref.state_dict())
    x = torch.randn(shape)
    outs = []
    for model in (ref, ours):
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        torch.manual_seed(7)                              # the same dropout / drop-path masks
        out = model(x)
        out.logsumexp(1).mean().backward()
        opt.step()
        outs.append(out.detach())
    # relative to the output's scale (random BN statistics amplify rounding; an element near 0 is no test)
    assert rel_err(outs[1], outs[0]) <= 1e-5
    theirs = convert_state_dict(ours, ref.state_dict(), lib if lib == "timm" else "torchvision")
    for key, value in ours.state_dict().items():
        other = theirs[key].reshape(value.shape)
        assert torch.allclose(value.float(), other.float(), rtol=1e-4, atol=1e-5), key
    with torch.no_grad():
        assert rel_err(ours.eval()(x), ref.eval()(x)) <= 1e-5
