"""``convzoo compare``: the variants differ only in their block, the run folder holds the table, plot and
one complete run per variant, and the same seed gives the same result."""
from __future__ import annotations

import csv

import pytest
import torch

from convzoo import create_model
from convzoo.analysis import profile
from convzoo.cli import main
from convzoo.compare import default_config, run_compare
from convzoo.models.variants import VARIANTS


def _block_types(model):
    blocks = list(model.stages[0]) + list(model.stages[1])[1:]
    return {type(b).__name__ for b in blocks}


@pytest.mark.parametrize("variant", VARIANTS)
def test_variants_share_everything_but_the_block(variant):
    ref, m = create_model("variant_conv"), create_model(f"variant_{variant}")
    # same stem, same stride-2 transition, same head: identical shapes of their parameters
    for part in ("stem", "stages.1.0", "head"):
        a, b = ref.get_submodule(part), m.get_submodule(part)
        assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()], part
    assert len(m.stages[0]) == len(ref.stages[0]) == 2 and len(m.stages[1]) == len(ref.stages[1]) == 3
    x = torch.randn(2, 1, 16, 16)
    assert m(x).shape == (2, 10)


def test_spatially_separable_variant_uses_the_library_layer():
    from convzoo.layers import SpatiallySeparableConv
    m = create_model("variant_spatial")
    seps = [mod for mod in m.modules() if isinstance(mod, SpatiallySeparableConv)]
    assert len(seps) == 4 and all(s.rank == s.in_channels for s in seps)
    # 3x1 (C -> C) then 1x3 (C -> C): 6 C^2 weights instead of the full conv's 9 C^2
    assert sum(p.numel() for p in seps[0].parameters()) == 6 * 32 * 32


def test_compare_writes_table_plot_and_runs_and_is_reproducible(tmp_path):
    cfg = default_config(epochs=1, image_size=8, limit_train=128, limit_test=64)
    rows = run_compare(tmp_path / "a", variants=("conv", "dwsep"), cfg=cfg, progress=False)
    assert [r["variant"] for r in rows] == ["conv", "dwsep"]
    for r in rows:
        assert 0 <= r["accuracy"] <= 1 and r["latency_ms"] > 0 and r["train_time_s"] > 0
        # MACs and params are the library profiler's (an independent count), at the compared input size
        m = create_model(f"variant_{r['variant']}")
        assert r["params"] == sum(p.numel() for p in m.parameters())
        assert r["macs"] == profile(m, (1, 8, 8)).macs
    out = tmp_path / "a"
    assert {"compare.json", "compare.csv", "compare.md", "compare.png", "conv", "dwsep"} <= \
        {p.name for p in out.iterdir()}
    for v in ("conv", "dwsep"):
        assert {"config.json", "metrics.jsonl", "report.json", "model.safetensors", "curves.png"} <= \
            {p.name for p in (out / v).iterdir()}
    with open(out / "compare.csv") as f:
        assert [r["variant"] for r in csv.DictReader(f)] == ["conv", "dwsep"]
    # depthwise separable: fewer params and MACs than the standard conv at equal depth and width
    assert rows[1]["params"] < rows[0]["params"] and rows[1]["macs"] < rows[0]["macs"]
    again = run_compare(tmp_path / "b", variants=("dwsep",), cfg=cfg, progress=False)
    assert again[0]["accuracy"] == rows[1]["accuracy"]
    from safetensors.torch import load_file
    w1, w2 = load_file(out / "dwsep" / "model.safetensors"), load_file(tmp_path / "b" / "dwsep" / "model.safetensors")
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_compare_cli_rejects_unknown_variant(tmp_path, capsys):
    assert main(["compare", "--variants", "conv,mbconvv", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown variant(s) mbconvv" in err
