"""``convzoo compare``: the variants differ only in their block, the run folder holds the table, plot and
one complete run per variant, and the same seed gives the same result."""
from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
import torch

from convzoo import create_model
from convzoo.analysis import profile
from convzoo.cli import main
from convzoo.compare import CLUTTER, FRESH, NOISE
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


def test_variant_names_come_from_one_table():
    # the models, compare's report labels and figure 2's layer names all read VARIANT_TABLE
    from convzoo import list_models
    from convzoo.compare.report import LABELS
    from convzoo.figures.variants import VARIANTS as LAYERS
    from convzoo.models.variants import BLOCKS, LAYER_NAMES, VARIANT_TABLE
    assert VARIANTS == tuple(BLOCKS) == tuple(v.name for v in VARIANT_TABLE)
    assert list_models("variant_*") == sorted(f"variant_{v}" for v in VARIANTS)
    assert set(LABELS) == set(VARIANTS)
    assert LAYER_NAMES == {"conv": "standard", "spatial": "spatially_separable", "dwsep": "depthwise_separable"}
    assert set(LAYER_NAMES.values()) <= set(LAYERS)
    assert create_model("variant_dwsep").__class__.__name__ == "VariantNet"


def test_spatially_separable_variant_uses_the_library_layer():
    from convzoo.layers import SpatiallySeparableConv
    m = create_model("variant_spatial")
    seps = [mod for mod in m.modules() if isinstance(mod, SpatiallySeparableConv)]
    assert len(seps) == 4 and all(s.rank == s.in_channels for s in seps)
    # 3x1 (C -> C) then 1x3 (C -> C): 6 C^2 weights instead of the full conv's 9 C^2
    assert sum(p.numel() for p in seps[0].parameters()) == 6 * 32 * 32


def test_compare_writes_table_plot_and_runs_and_is_reproducible(tmp_path, capsys):
    """A tiny config twice through the CLI (2 worker processes) gives the same accuracies, run by run."""
    argv = ["compare", "--variants", "conv,dwsep", "--seeds", "2", "--epochs", "1", "--train-size", "96",
            "--test-size", "64", "--workers", "2", "--no-progress"]
    assert main(argv + ["--out", str(tmp_path / "a")]) == 0
    table = capsys.readouterr().out
    assert "| conv | standard conv 3x3 |" in table and "95% CI" in table and "Holm" in table
    assert "dwsep@macs" in table            # dwsep has a quarter of conv's MACs: a matched row is added
    out = tmp_path / "a"
    res = json.loads((out / "compare.json").read_text())
    assert [g["name"] for g in res["groups"]] == ["conv", "dwsep", "dwsep@macs"]
    assert {"compare.json", "compare.csv", "compare.md", "compare.png", "runs"} <= {p.name for p in out.iterdir()}
    for g in res["groups"]:
        assert g["seeds"] == [0, 1] and g["latency"]["q1"] <= g["latency"]["median"] <= g["latency"]["q3"]
        a = g["accuracy"]
        assert a["lo"] <= a["mean"] <= a["hi"] and a["n"] == 2
        # MACs and params are the library profiler's (an independent count), at the compared input size
        m = create_model(f"variant_{g['variant']}", widths=tuple(g["widths"]))
        assert g["params"] == sum(p.numel() for p in m.parameters())
        assert g["macs"] == profile(m, (1, 16, 16)).macs
    conv, dwsep, wide = res["groups"]
    assert dwsep["params"] < conv["params"] and dwsep["macs"] < conv["macs"]
    assert abs(wide["macs"] - conv["macs"]) < 0.1 * conv["macs"] and wide["widths"][0] > 32
    for g in (dwsep, wide):
        assert 0 <= g["p_holm"] <= 1 and "delta_vs_conv" in g
    for r in res["runs"]:
        assert {"config.json", "metrics.jsonl", "report.json", "model.safetensors"} <= \
            {p.name for p in Path(r["run_dir"]).iterdir()}
        # the task's options are recorded, so eval / deploy / predict rebuild the same cluttered digits
        assert json.loads((Path(r["run_dir"]) / "config.json").read_text())["data_kwargs"] == \
            {"clutter": CLUTTER, "noise": NOISE, "fresh": FRESH}
    with open(out / "compare.csv") as f:
        assert [r["name"] for r in csv.DictReader(f)] == ["conv", "dwsep", "dwsep@macs"]
    # the same command again, in one process this time: the same accuracies, run for run
    assert main(argv[:-3] + ["--workers", "1", "--no-progress", "--match", "macs", "--out", str(tmp_path / "b")]) == 0
    again = json.loads((tmp_path / "b" / "compare.json").read_text())
    key = [(r["name"], r["seed"], r["accuracy"]) for r in res["runs"]]
    assert sorted(key) == sorted((r["name"], r["seed"], r["accuracy"]) for r in again["runs"])
    from safetensors.torch import load_file
    w1 = load_file(out / "runs" / "dwsep" / "seed1" / "model.safetensors")
    w2 = load_file(tmp_path / "b" / "runs" / "dwsep" / "seed1" / "model.safetensors")
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_matched_widths_hit_the_target_cost():
    from convzoo.compare import matched_widths
    target = profile(create_model("variant_conv"), (1, 16, 16)).macs
    w = matched_widths("fused", target, (1, 16, 16))
    assert w[0] < 32 and w[1] == 2 * w[0]                       # Fused-MBConv costs 4x: narrowed
    got = profile(create_model("variant_fused", widths=w), (1, 16, 16)).macs
    assert abs(got - target) < 0.1 * target
    for other in (w[0] - 4, w[0] + 4):                          # no neighbouring width is closer
        alt = profile(create_model("variant_fused", widths=(other, 2 * other)), (1, 16, 16)).macs
        assert abs(alt - target) >= abs(got - target)


def test_a_base_row_dearer_than_the_cost_gap_is_trained_at_matched_cost_only():
    """Fused-MBConv at the base widths costs 4x the conv's MACs (profiled here, the oracle): plan_jobs trains it
    only as fused@macs; spatial (0.7x) and dwsep (0.24x) keep their base rows beside their matched ones, and
    the table's note says what the untrained row would have cost."""
    from convzoo.compare.claims import COST_GAP
    from convzoo.compare.report import _matched_only_note
    from convzoo.compare.study import matched_only, plan_jobs
    conv = profile(create_model("variant_conv"), (1, 16, 16)).macs
    fused = profile(create_model("variant_fused"), (1, 16, 16))
    assert fused.macs > COST_GAP * conv
    variants = ("conv", "spatial", "dwsep", "mbconv", "fused", "convnext")
    jobs = plan_jobs(variants, [0, 1], "macs", (1, 16, 16))
    names = list(dict.fromkeys(j.name for j in jobs))
    assert names == ["conv", "spatial", "dwsep", "mbconv", "convnext", "spatial@macs", "dwsep@macs", "fused@macs"]
    assert all(sum(j.name == n for j in jobs) == 2 for n in names)
    skipped = matched_only(variants, jobs, (1, 16, 16))
    assert skipped == {"fused": dict(widths=[32, 64], params=fused.params, macs=fused.macs)}
    assert [j.name for j in plan_jobs(variants, [0], None, (1, 16, 16))] == list(variants)   # nothing matched
    note = _matched_only_note(dict(meta=dict(matched_only=skipped, match="macs"),
                                   groups=[dict(name="conv", macs=conv)]))
    assert note == [f"Trained at matched cost only: fused at widths 32,64 would cost {fused.macs / 1e6:.2f}M MACs "
                    f"({fused.macs / conv:.1f}x the standard conv's) and {fused.params:,} params, see fused@macs "
                    f"(a row over 1.25x the conv's MACs enters no claim and no headline)."]


def test_more_seeds_go_to_the_claims_rows_and_seeds_gives_every_row_the_same(tmp_path, capsys):
    """The default budget's more_seeds: the standard conv, the claim's row of a variant (spatial@macs, not
    the base spatial row) and a variant without a matched row (convnext) get 12 seeds, every other row
    the budget's 4; the table says which; ``--seeds N`` is N for every row."""
    from convzoo.compare import BUDGETS
    from convzoo.compare.study import plan_jobs
    variants = ("conv", "spatial", "dwsep", "mbconv", "fused", "convnext")
    more = BUDGETS["default"]["more_seeds"]
    jobs = plan_jobs(variants, range(4), "macs", (1, 16, 16), more_seeds=more)
    seeds = {n: [j.seed for j in jobs if j.name == n] for n in dict.fromkeys(j.name for j in jobs)}
    assert seeds == dict(conv=list(range(12)), spatial=[0, 1, 2, 3], dwsep=[0, 1, 2, 3], mbconv=[0, 1, 2, 3],
                         convnext=list(range(12)), **{"spatial@macs": list(range(12)), "dwsep@macs": [0, 1, 2, 3],
                                                      "fused@macs": [0, 1, 2, 3]})
    assert [j.seed for j in plan_jobs(("conv",), [5, 9], None, (1, 16, 16), more_seeds=dict(conv=4))] == [5, 9, 10, 11]
    tiny = ["compare", "--variants", "conv,spatial", "--epochs", "1", "--train-size", "16", "--test-size", "16",
            "--workers", "1", "--no-progress"]
    assert main(tiny + ["--out", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "4 seed(s) per row (0, 1, 2, 3); conv and spatial@macs 12 (0-11), the claims" in out
    runs = json.loads((tmp_path / "d" / "compare.json").read_text())["runs"]
    assert sorted(Counter(r["name"] for r in runs).items()) == [("conv", 12), ("spatial", 4), ("spatial@macs", 12)]
    assert main(tiny + ["--seeds", "2", "--out", str(tmp_path / "s")]) == 0
    runs = json.loads((tmp_path / "s" / "compare.json").read_text())["runs"]
    assert sorted(Counter(r["name"] for r in runs).items()) == [("conv", 2), ("spatial", 2), ("spatial@macs", 2)]
    assert "per row (0, 1)." in capsys.readouterr().out
    from convzoo.compare import run_compare
    with pytest.raises(ValueError, match="more_seeds maps a variant"):
        run_compare(tmp_path / "bad", variants=["conv"], more_seeds=dict(convv=3))


def test_compare_cli_rejects_unknown_variant(tmp_path, capsys):
    assert main(["compare", "--variants", "conv,mbconvv", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown variant(s) mbconvv" in err


def _verdicts(result) -> dict:
    """Each accuracy claim's verdict and each row's convergence flag: what must carry across CPUs (the
    latency claims are measured on the machine at hand and left out)."""
    acc = {c["claim"]: c["verdict"] for c in result["claims"] if "diff" in c}
    return dict(acc, **{g["name"]: g["convergence"]["still_improving"] for g in result["groups"]})


def _job(tmp_path, threads: int) -> dict:
    """conv and spatial@macs, 3 seeds x 2 epochs on 128 images: the rows of one accuracy claim, summarized."""
    from convzoo.compare import CLUTTER, Job, default_config, matched_widths, train_job
    from convzoo.compare.report import summarize
    # the same 128 images each epoch: on 2 epochs of new ones this smoke job's spatial bound sits on its
    # threshold (one path "spans the margin", the other "changed over the tail"), a case no float path
    # can carry; the default task's verdicts on two paths are measured at its budget (docs/cli.md)
    data = dict(name="cluttered_digits", train_size=128, test_size=256,
                options=dict(clutter=CLUTTER, noise=NOISE, fresh=False))
    target = profile(create_model("variant_conv"), (1, 16, 16)).macs
    jobs = [Job("conv", "conv", (32, 64), s) for s in range(3)]
    jobs += [Job("spatial@macs", "spatial", matched_widths("spatial", target, (1, 16, 16)), s) for s in range(3)]
    cfg = default_config(epochs=2).to_dict()
    runs = [train_job(j, cfg, data, str(tmp_path / f"{j.name}-{j.seed}"), threads) for j in jobs]
    meta = dict(dataset="cluttered_digits", train_samples=128, test_samples=256, input_size=[1, 16, 16],
                seeds=[0, 1, 2], match="macs", threads=threads)
    return summarize(runs, {}, meta)


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
def test_verdicts_carry_across_floating_point_paths(tmp_path):
    """The same job on another floating-point path, as another CPU takes one: oneDNN (mkldnn) off and
    2 threads instead of 1. Its weights differ in the last bits (the test checks that the path did
    change); the convergence flags and the claim's verdict must not. A smoke budget: the default
    budget's bounds and how far each sits from its threshold are in docs/cli.md."""
    from safetensors.torch import load_file
    a = _job(tmp_path / "a", threads=1)
    with torch.backends.mkldnn.flags(enabled=False):
        b = _job(tmp_path / "b", threads=2)
    assert _verdicts(a) == _verdicts(b) and len(_verdicts(a)) == 3
    w = [load_file(tmp_path / d / "spatial@macs-0" / "model.safetensors") for d in "ab"]
    assert any(not torch.equal(w[0][k], w[1][k]) for k in w[0])


def test_quick_budget_is_marked_as_a_preview(tmp_path, capsys):
    from convzoo.compare import BUDGETS
    def work(b):    # runs x epochs of the default job's eight rows: six claim rows, base spatial and dwsep
        more, n = BUDGETS[b].get("more_seeds", {}), BUDGETS[b]["seeds"]
        claim_rows = ("conv", "spatial", "dwsep", "mbconv", "convnext", "fused")
        return (sum(max(n, more.get(v, 0)) for v in claim_rows) + 2 * n) * BUDGETS[b]["epochs"]
    assert work("quick") < work("default") < work("full")
    argv = ["compare", "--budget", "quick", "--variants", "conv", "--seeds", "2", "--epochs", "1", "--train-size", "32",
            "--test-size", "32", "--match", "none", "--workers", "1", "--no-progress", "--out", str(tmp_path / "q")]
    assert main(argv) == 0
    cap = capsys.readouterr()
    assert "a preview (2 seeds x 1 epochs)" in cap.err and "train_loss" not in cap.err    # no per-epoch lines
    assert cap.out.startswith("Preview (--budget quick, 2 seeds x 1 epochs)")
    assert (tmp_path / "q" / "compare.md").read_text().startswith("Preview (--budget quick")
