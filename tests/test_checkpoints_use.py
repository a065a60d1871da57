"""Using real checkpoints: preprocessing equal to timm's, predict's image handling and refusals, and
fine-tuning from a real file (then the run works without it); split from test_checkpoints.py."""
from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
import torch

import convzoo
from convzoo.data.transforms import create_transform, resolve_data_config
from convzoo.hub import save_pretrained

timm = pytest.importorskip("timm")

LITES = [f"{tf}efficientnet_lite{v}" for tf in ("", "tf_") for v in range(5)]


# ----------------------------------------------------------------- preprocessing vs timm
def _images(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    imgs = {"rgb.png": Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)),
            "grey.png": Image.fromarray(rng.integers(0, 256, (61, 29), dtype=np.uint8)),
            "rgba.png": Image.fromarray(rng.integers(0, 256, (45, 44, 4), dtype=np.uint8), "RGBA"),
            "palette.png": Image.fromarray(rng.integers(0, 256, (33, 71, 3), dtype=np.uint8)).convert("P"),
            "deep.png": Image.fromarray(rng.integers(0, 65536, (41, 39), dtype=np.uint16)),
            "cmyk.jpg": Image.fromarray(rng.integers(0, 256, (30, 31, 3), dtype=np.uint8)).convert("CMYK")}
    for name, im in imgs.items():
        im.save(tmp_path / name)
    return {name: tmp_path / name for name in imgs}


@pytest.mark.parametrize("name", ["efficientnet_lite0", "tf_efficientnet_lite4", "efficientnet_b0",
                                  "mobilenetv3_large_100"])
def test_transform_equals_timm(name, tmp_path):
    from convzoo.data.imagefolder import open_image
    ours, ref = convzoo.create_model(name), timm.create_model(name)
    cfg = resolve_data_config(ours)
    assert cfg == {k: tuple(v) if isinstance(v, list) else v
                   for k, v in timm.data.resolve_data_config(model=ref).items()}
    a, b = create_transform(cfg), timm.data.create_transform(**cfg)
    for path in _images(tmp_path).values():
        img = open_image(path, "RGB")
        assert (a(img) - b(img)).abs().max() <= 1e-6, path.name


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    from PIL import Image
    from convzoo.data.imagefolder import open_image
    a = np.array([[0, 257, 32768], [65535, 1000, 50000]], dtype=np.uint16)
    Image.fromarray(a).save(tmp_path / "d.png")
    got = np.asarray(open_image(tmp_path / "d.png", "L"))
    assert got.tolist() == np.rint(a / 257.0).astype(np.uint8).tolist()


def _bomb_png(path) -> None:
    """A PNG header claiming 30000 x 30000 pixels (PIL refuses it before decoding anything)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10))
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize("case", ["not_an_image", "truncated", "empty_folder", "bomb", "missing"])
def test_predict_refuses_bad_images_in_one_line(case, run_cli, tmp_path):
    p = tmp_path / "x.png"
    if case == "not_an_image":
        p.write_text("hello")
    elif case == "truncated":
        from PIL import Image
        Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 100).save(tmp_path / "full.jpg", quality=95)
        p = tmp_path / "x.jpg"
        p.write_bytes((tmp_path / "full.jpg").read_bytes()[:300])
    elif case == "empty_folder":
        p = tmp_path / "empty"
        p.mkdir()
    elif case == "bomb":
        _bomb_png(p)
    model = convzoo.create_model("variant_conv", num_classes=4, in_chans=3)
    save_pretrained(model, tmp_path / "m")
    code, out, err = run_cli(["predict", str(p), "--model", f"local-dir:{tmp_path / 'm'}"])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    word = {"not_an_image": "cannot read image", "truncated": "cannot read image", "empty_folder": "no image files",
            "bomb": "decompression bomb", "missing": "not found"}[case]
    assert word in err


def test_predict_converts_cmyk_alpha_palette_and_16_bit(run_cli, tmp_path):
    model = convzoo.create_model("variant_conv", num_classes=4, in_chans=3)
    save_pretrained(model, tmp_path / "m", label_names=["w", "x", "y", "z"])
    code, out, err = run_cli(["predict", *map(str, _images(tmp_path).values()), "--model",
                              f"local-dir:{tmp_path / 'm'}", "--json", "--topk", "2"])
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 6 and all(t["label"] in "wxyz" for r in rows for t in r["top"])


# ------------------------------------------------------------------- fine-tuning from a file
def _imagefolder(root, per_class=4, test_per_class=2):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))
    from transfer import write_imagefolder
    names = write_imagefolder("shapes", root, per_class, "train", size=32)
    write_imagefolder("shapes", root, test_per_class, "test", size=32)
    return names


@pytest.mark.slow
def test_finetune_from_a_real_file_then_use_the_run_without_it(run_cli, tmp_path, lite0_file):
    import shutil
    start = tmp_path / "lite0.pth"
    shutil.copy(lite0_file, start)
    names = _imagefolder(tmp_path / "data")
    run = tmp_path / "run"
    base = ["--dataset", "imagefolder", "--data-root", tmp_path / "data", "--data-arg", "size=32",
            "--batch-size", "8", "--no-progress"]
    code, out, err = run_cli(["train", "--model", "efficientnet_lite0", "--pretrained", start, "--epochs", "1",
                              "--layer-decay", "0.7", "--out", run, *base])
    assert code == 0, err
    assert "pretrained:" in err and "new classifier for 7 classes" in err and "left at its fresh" not in err
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["pretrained"]["sha256"] == convzoo.hub.sha256(start)
    assert cfg["class_names"] == sorted(names) and cfg["train"]["layer_decay"] == 0.7   # ImageFolder: sorted
    assert "checkpoint_path" not in json.dumps(cfg["model_kwargs"])
    start.unlink()                                   # the run never needs its starting file again
    code, out, err = run_cli(["eval", run, "--json"])
    assert code == 0 and json.loads(out)["agrees_with_report"], err
    code, out, err = run_cli(["predict", "--run", run, tmp_path / "data" / "test", "--json", "--topk", "2"])
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 14 and all(t["label"] in names for r in rows for t in r["top"])
    code, out, err = run_cli(["train", "--resume", run, "--epochs", "2", "--no-progress"])
    assert code == 0, err
    code, out, err = run_cli(["train", "--resume", run, "--pretrained", "x.pth"])
    assert code == 2 and "cannot be given with --resume" in err
    # export (ONNX and OpenVINO) checked on the run's own test images, at the size it trained at
    code, out, err = run_cli(["export", run, "--onnx", tmp_path / "m.onnx", "--openvino", tmp_path / "ir"])
    assert code == 0, err
    assert "on 14 of the run's test images" in out and "x32x32" in out
    for artifact in (tmp_path / "m.onnx", tmp_path / "ir"):      # bench takes them back, no size flags
        code, out, err = run_cli(["bench", artifact, "--runs", "2", "--warmup", "0", "--json"])
        assert code == 0, err
        assert json.loads(out)["input_size"][-2:] == [32, 32]
    code, out, err = run_cli(["bench", run, "--runs", "2", "--warmup", "0", "--json"])
    assert code == 0 and json.loads(out)["input_size"][-2:] == [32, 32], err
    # int8: quantized on the run's data, evaluated without repeating --data-root (a CPU without VNNI
    # or AMX refuses int8 in one line)
    code, out, err = run_cli(["quantize", run, "--out", tmp_path / "int8", "--runs", "2", "--json"])
    from _cli import INT8, NO_INT8
    if not INT8:
        assert code == 2 and NO_INT8 in err, err
        return
    assert code == 0, err
    code, out, err = run_cli(["eval", tmp_path / "int8", "--json"])
    assert code == 0 and json.loads(out)["samples"] == 14, err


def test_linear_probe_trains_the_classifier_only_and_keeps_norm_statistics(tmp_path):
    from convzoo.train import TrainConfig, fit
    from convzoo.runs import build_data
    _imagefolder(tmp_path / "d", per_class=2, test_per_class=1)
    train, test = build_data("imagefolder", str(tmp_path / "d"), {"size": 32})
    model = convzoo.create_model("efficientnet_lite0", num_classes=7)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, train, test, TrainConfig(epochs=1, batch_size=7, freeze="backbone", latency_runs=1), progress=False)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"head.fc.weight", "head.fc.bias"}


def test_layer_decay_scales_follow_depth():
    from convzoo.train.finetune import param_groups
    model = convzoo.create_model("efficientnet_lite0", num_classes=3)
    groups = param_groups(model, 0.05, 0.5)
    scale = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    n_blocks = sum(len(s) for s in model.stages)
    assert scale[id(model.stem.conv.weight)] == 0.5 ** (n_blocks + 1)
    assert scale[id(model.stages[0][0].dw.conv.weight)] == 0.5 ** n_blocks
    assert scale[id(model.head.fc.weight)] == 1.0
    assert {g["weight_decay"] for g in groups if any(p.ndim <= 1 for p in g["params"])} == {0.0}
