"""`convzoo list` and `convzoo summary`: numbers against independent counts (parameter tensors of a
CPU-built model, FlopCounterMode), bad input as one-line errors with exit code 2."""
from __future__ import annotations

import fnmatch
import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import convzoo
from convzoo.cli import main


def _small_models():
    """Registered models cheap enough to run on CPU in a test: the digits variants and the small
    video nets (by name, so collection builds nothing), whatever the registry holds right now."""
    names = convzoo.list_models()
    return ([n for n in names if fnmatch.fnmatch(n, "variant_*")][:2]
            + convzoo.list_models("*_small", modality="video")[:2])


SMALL = _small_models()


def _flops(model, size):
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(torch.zeros(1, *size))
    return fc.get_total_flops()


def _run(argv, capsys):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """Every test counts from scratch in its own cache folder (never the user's ~/.cache)."""
    monkeypatch.setenv("CONVZOO_CACHE", str(tmp_path / "cache"))


def test_list_caches_counts_for_this_code(tmp_path, capsys, monkeypatch):
    from convzoo import catalog
    argv = ["list", "--pattern", "mobilenet_v[12]", "--json", "--no-progress"]
    first = _run(argv, capsys)[1]
    (path,) = (tmp_path / "cache" / "model-costs").glob("costs-*.json")
    assert set(json.loads(path.read_text())) == {"mobilenet_v1", "mobilenet_v2"}

    def no_counting(*a, **k):
        raise AssertionError("counted again although cached")
    monkeypatch.setattr(catalog, "model_cost", no_counting)
    assert _run(argv, capsys)[1] == first                     # served from the cache
    with pytest.raises(AssertionError, match="counted again"):
        main(argv + ["--no-cache"])                           # --no-cache recounts
    path.write_text("{ not json")                             # a damaged cache is ignored, not fatal
    monkeypatch.undo()
    monkeypatch.setenv("CONVZOO_CACHE", str(tmp_path / "cache"))
    assert _run(argv, capsys)[1] == first and json.loads(path.read_text())


def test_registry_has_small_models():
    assert SMALL, "no small registered model to test the CLI with"


@pytest.mark.parametrize("name", SMALL)
def test_list_json_matches_cpu_model(name, capsys):
    rc, out, _ = _run(["list", "--pattern", name, "--json", "--no-progress"], capsys)
    assert rc == 0
    (row,) = json.loads(out)
    model = convzoo.create_model(name)                # real weights, on the CPU
    size = tuple(model.default_cfg["input_size"])
    assert row["name"] == name and tuple(row["input_size"]) == size
    assert row["params"] == sum(p.numel() for p in model.parameters())
    assert 2 * row["macs"] == _flops(model, size)    # FlopCounterMode: 2 FLOPs per MAC
    assert row["error"] is None


def test_list_table_mobilenet_v2_exact(capsys):
    rc, out, _ = _run(["list", "--pattern", "mobilenet_v2", "--exact", "--no-progress"], capsys)
    assert rc == 0
    line = next(l for l in out.splitlines() if l.startswith("mobilenet_v2"))
    # torchvision mobilenet_v2 has 3,504,872 params; the paper's "300M multiply-adds" (Table 4)
    assert "3x224x224" in line and "3,504,872" in line and "300,774,272" in line
    assert "FLOPs = 2 x MACs" in out


def test_list_no_macs_whole_modality(capsys):
    rc, out, _ = _run(["list", "--no-macs", "--json", "--no-progress", "--modality", "audio"], capsys)
    assert rc == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == convzoo.list_models(modality="audio")
    for r in rows:
        assert r["macs"] is None and r["modality"] == "audio"
        if r["error"] is None:                         # built on meta: params without allocating
            assert r["params"] > 0 and r["input_size"], r


def test_list_modality_filter_and_human_units(capsys):
    rc, out, _ = _run(["list", "--modality", "audio", "--pattern", "waveform_m5", "--no-progress"], capsys)
    assert rc == 0
    assert "waveform_m5" in out and "audio" in out and "278.53 M" in out
    assert "mobilenet" not in out


def test_list_unknown_pattern_suggests(capsys):
    rc, _, err = _run(["list", "--pattern", "mobilnet_v2", "--no-progress"], capsys)
    assert rc == 2
    assert "no models match 'mobilnet_v2'" in err and "mobilenet_v2" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", SMALL[:2])
def test_summary_json_rows_add_up(name, capsys):
    rc, out, _ = _run(["summary", name, "--json"], capsys)
    assert rc == 0
    prof = json.loads(out)
    model = convzoo.create_model(name)
    size = tuple(model.default_cfg["input_size"])
    assert prof["params"] == sum(p.numel() for p in model.parameters())
    assert sum(r["params"] for r in prof["layers"]) == prof["params"]
    assert sum(r["macs"] for r in prof["layers"]) == prof["macs"] == _flops(model, size) // 2
    assert prof["flops"] == 2 * prof["macs"] and prof["uncounted"] == []


def test_summary_table_with_input_size(capsys):
    rc, out, _ = _run(["summary", "mobilenet_v2", "--input-size", "3x64x64"], capsys)
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == "mobilenet_v2: MobileNetV2, input 1x3x64x64"
    assert lines[1].split() == ["Layer", "Type", "Output", "shape", "Params", "MACs", "RF"]
    stem = next(l for l in lines if l.startswith("stem.conv "))
    # 3x3 stride-2 stem, 3 -> 32 channels at 64x64: 32 * 32 * 32 * 3 * 9 MACs, RF 3
    assert stem.split() == ["stem.conv", "Conv2d", "1x32x32x32", "864", f"{32 * 32 * 32 * 27:,}", "3"]
    model = convzoo.create_model("mobilenet_v2")
    assert f"MACs:   {_flops(model, (3, 64, 64)) // 2:,}" in out
    assert "Params: 3,504,872" in out
    fc = next(l for l in lines if l.startswith("head.fc"))
    assert fc.split()[-1] == "-"                   # no receptive field after global pooling


def test_summary_spaced_and_comma_sizes_agree(capsys):
    _, a, _ = _run(["summary", "waveform_m5", "--input-size", "1", "8000", "--json"], capsys)
    _, b, _ = _run(["summary", "waveform_m5", "--input-size", "1,8000", "--json"], capsys)
    assert json.loads(a)["macs"] == json.loads(b)["macs"]
    assert json.loads(a)["input_shape"] == [1, 1, 8000]


@pytest.mark.parametrize("argv, message", [
    (["summary", "mobilenet_v3"], "unknown model 'mobilenet_v3'; did you mean: mobilenet_v2"),
    (["summary", "mobilenet_v2", "--input-size", "3", "a"], "--input-size expects positive integers"),
    (["summary", "mobilenet_v2", "--input-size", "64", "64"],
     "MobileNetV2 takes 2D inputs: expected input_size (C, *spatial) with 3 values"),
    (["summary", "mobilenet_v2", "--batch-size", "0"],
     "argument --batch-size: expected an integer in [1, 1048576], got '0'"),
])
def test_summary_bad_input(argv, message, capsys):
    rc, out, err = _run(argv, capsys)
    assert rc == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
