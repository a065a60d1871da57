"""``convzoo scale``: the scaling law's MACs, the phi = 1 grid, and a tiny resumable study."""
import json

import pytest

import convzoo.train
from convzoo import create_model
from convzoo.cli import main
from convzoo.models.efficientnet import EfficientNet
from convzoo.analysis import count_macs
from convzoo.scaling import law
from convzoo.scaling.budget import BUDGETS, CUT_SHORT, Budget, parse_budget
from convzoo.scaling.study import plan, run_study


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CONVZOO_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _macs(m: law.Multipliers) -> int:
    spec = law.scaled_spec(m, 7)
    return count_macs(create_model("searched", spec=spec), (3, spec["resolution"], spec["resolution"]))


def test_compound_macs_grow_about_two_to_the_phi():
    """Eq. 3: alpha*beta^2*gamma^2 ~= 2 so MACs grow ~2^phi. Rounding channels to multiples of 4,
    layers up (ceil) and pixels to integers, and MBConv's depthwise/SE parts growing only linearly
    in width, keep the measured ratio within 25 % of 2^phi here."""
    base = _macs(law.Multipliers())
    for phi in (1, 2):
        ratio = _macs(law.compound(phi)) / base
        assert 0.75 * 2 ** phi < ratio < 1.25 * 2 ** phi, (phi, ratio)


@pytest.mark.parametrize("dim", ["depth", "width", "resolution"])
def test_single_dimension_spends_the_same_budget(dim):
    base = _macs(law.Multipliers())
    ratio = _macs(law.single(dim, 1.0)) / base
    assert 1.5 < ratio < 2.5, (dim, ratio)


def test_rounding_follows_the_official_rules():
    """round_filters (here divisor 4) and ceil repeats, checked by hand for beta=1.1, alpha=1.2."""
    spec = law.scaled_spec(law.compound(1.0), 7)
    # channels 8,16,24,40,48 * 1.1 = 8.8, 17.6, 26.4, 44, 52.8 -> nearest multiple of 4, >= 90 %
    assert [s["out_channels"] for s in spec["stages"]] == [8, 16, 28, 44, 52]
    # layers 1,2,2,3,2 * 1.2 -> ceil
    assert [s["num_layers"] for s in spec["stages"]] == [2, 3, 3, 4, 3]
    assert spec["resolution"] == round(40 * 1.15) and spec["stem_channels"] == 16
    assert spec["head_channels"] == 140                       # 128 * 1.1 = 140.8 -> 140
    # the same net as helper code path EfficientNet.from_table with divisor 4
    ref = EfficientNet.from_table(law.SHAPES_BASE, law.SHAPES_STEM, law.SHAPES_HEAD, width_mult=1.1,
                                  depth_mult=1.2, resolution=46, num_classes=7, divisor=4)
    ours = create_model("searched", spec=spec)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())


def test_coefficient_grid_satisfies_the_constraint():
    grid = law.coefficient_grid(tol=0.1)
    assert len(grid) >= 10
    for a, b, g in grid:
        assert min(a, b, g) >= 1 and abs(a * b * b * g * g - 2) <= 0.1 + 1e-9
    assert {(2.0, 1.0, 1.0), (1.0, 1.4, 1.0), (1.0, 1.0, 1.4)} <= set(grid)
    keys = [v.key for v in plan(BUDGETS["small"])]
    assert keys[:5] == ["base", "compound-phi1", "depth-phi1", "width-phi1", "resolution-phi1"]
    assert len(keys) == 5 + BUDGETS["small"].grid_points


def test_budget_parsing():
    assert parse_budget("small") is BUDGETS["small"]
    assert all(b.limit_minutes is None for b in BUDGETS.values())      # a preset is work, never a time
    b = parse_budget("150")                  # the largest preset whose idle time fits, limited to 150 min
    assert b.limit_minutes == 150 and b.phis == BUDGETS["medium"].phis
    assert parse_budget("3").train_size == BUDGETS["tiny"].train_size
    assert BUDGETS["tiny"].with_limit(2.5).limit_minutes == 2.5 and BUDGETS["tiny"].with_limit(None) == BUDGETS["tiny"]
    with pytest.raises(ValueError, match="> 0"):
        BUDGETS["tiny"].with_limit(0)
    with pytest.raises(ValueError, match="tiny, small, medium, large"):
        parse_budget("huge")
    with pytest.raises(ValueError, match="> 0"):
        parse_budget("-3")


TINY = Budget("tiny", minutes=10, train_size=12, test_size=6, epochs=1, batch_size=12, phis=(1.0,),
              grid_points=0)


def test_tiny_study_writes_outputs_and_resumes(tmp_path, monkeypatch):
    out = tmp_path / "scale"
    res = run_study(out, TINY, progress=False, latency_runs=1, keep_train_folders=False)
    keys = [r["key"] for r in res["runs"]]
    assert keys == ["base", "compound-phi1", "depth-phi1", "width-phi1", "resolution-phi1"]
    for r in res["runs"]:
        assert 0 <= r["accuracy"] <= 1 and r["macs"] > 0 and r["latency_ms"] > 0
        # the spec in the run folder builds a net with the MACs the table reports
        spec = json.loads((out / "runs" / r["key"] / "spec.json").read_text())
        assert count_macs(create_model("searched", spec=spec), (3, spec["resolution"], spec["resolution"])) == r["macs"]
    saved = json.loads((out / "results.json").read_text())
    assert saved["runs"] == res["runs"] and saved["preferred"]["key"] in keys[1:]
    csv_head = (out / "results.csv").read_text().splitlines()[0]
    assert csv_head.startswith("key,curve,phi,depth_mult,width_mult,resolution_mult")
    assert len((out / "results.md").read_text().splitlines()) == 2 + 5    # header, rule, 5 runs
    assert "This data prefers" in (out / "grid.md").read_text()
    assert (out / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # resume: finished runs are skipped; a run whose result is missing is trained again, alone
    (out / "runs" / "width-phi1" / "result.json").unlink()
    calls = []
    real_fit = convzoo.train.fit

    def counting_fit(model, *a, **k):
        calls.append(model)
        return real_fit(model, *a, **k)
    monkeypatch.setattr(convzoo.train, "fit", counting_fit)
    again = run_study(out, TINY, progress=False, latency_runs=1, keep_train_folders=False)
    assert len(calls) == 1 and [r["key"] for r in again["runs"]] == keys
    with pytest.raises(ValueError, match="different settings"):
        run_study(out, Budget("tiny", minutes=10, train_size=13, test_size=6, epochs=1), progress=False)


def test_cli_rejects_bad_budget(tmp_path, capsys):
    assert main(["scale", "--out", str(tmp_path / "x"), "--budget", "lots"]) == 2
    assert "small, medium, large" in capsys.readouterr().err


DET = Budget("det", minutes=10, train_size=24, test_size=12, epochs=1, batch_size=12, phis=(1.0,),
             grid_points=0)
VOLATILE = ("latency_ms", "train_time_s", "wall_time_s")


def _stable(rows):
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


def test_same_seed_same_table(tmp_path, monkeypatch):
    """Twice with one seed: the same accuracies and table, even though the first run generates the
    data cache (drawing random numbers) and the second reads it."""
    monkeypatch.setenv("CONVZOO_CACHE", str(tmp_path / "fresh-cache"))
    a = run_study(tmp_path / "a", DET, progress=False, latency_runs=1, keep_train_folders=False)
    b = run_study(tmp_path / "b", DET, progress=False, latency_runs=1, keep_train_folders=False)
    assert _stable(a["runs"]) == _stable(b["runs"]) and len(a["runs"]) == 5
    md = [(tmp_path / d / "results.md").read_text().splitlines() for d in "ab"]
    strip = [[line.rsplit("|", 2)[0] for line in m] for m in md]     # all but the latency column
    assert strip[0] == strip[1]


def test_a_run_that_would_not_fit_is_not_started(tmp_path):
    import time

    from convzoo.scaling.study import Runner
    runner = Runner(tmp_path, DET, None, False, 3e-3, 0, 1, False, lambda s: None)
    variants = plan(DET)
    assert runner.fits(variants[0], time.monotonic() + 1e-3)           # nothing measured yet
    runner.train(variants[0])
    assert not runner.fits(variants[1], time.monotonic() + 1e-3)
    assert runner.fits(variants[1], time.monotonic() + 3600)
    assert not runner.fits(variants[1], time.monotonic() - 1)


class _SlowClock:
    """``time`` for one module, whose monotonic clock jumps an hour per call: a very busy machine."""

    def __init__(self):
        import time
        self._time, self.now = time, 0.0

    def monotonic(self):
        self.now += 3600.0
        return self.now

    def __getattr__(self, name):
        return getattr(self._time, name)


def test_a_busy_machine_trains_the_same_study(tmp_path, monkeypatch):
    """The budget is work: however slow the machine, every planned run trains (no time limit)."""
    monkeypatch.setattr("convzoo.scaling.study.time", _SlowClock())
    res = run_study(tmp_path / "s", DET, progress=False, latency_runs=1, keep_train_folders=False)
    assert [r["key"] for r in res["runs"]] == [v.key for v in plan(DET)] and res["skipped"] == []
    assert res["time_limit"] is None


def test_time_limit_is_opt_in_says_what_it_cut_and_exits_non_zero(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("convzoo.scaling.budget.BUDGETS", dict(BUDGETS, tiny=DET))
    monkeypatch.setattr("convzoo.scaling.study.time", _SlowClock())   # every run "takes" an hour
    out = tmp_path / "cut"
    assert main(["scale", "--budget", "tiny", "--time-limit", "90", "--no-progress", "--out", str(out)]) == CUT_SHORT
    cap = capsys.readouterr()
    # the base run starts (nothing measured yet), then each next run would end after the 90 minutes
    assert "the time limit of 90 min cut the study short: 4 of 5 runs not trained (compound-phi1, " in cap.err
    assert "Not run (the time limit of 90 min cut them): compound-phi1, depth-phi1" in cap.out
    assert [r["key"] for r in json.loads((out / "results.json").read_text())["runs"]] == ["base"]
    # without the limit, the same command finishes the study (resuming the base run) and exits 0
    assert main(["scale", "--budget", "tiny", "--no-progress", "--out", str(out)]) == 0
    assert len(json.loads((out / "results.json").read_text())["runs"]) == 5


def test_cli_defaults_out_and_tiny_budget(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("convzoo.scaling.budget.BUDGETS", dict(BUDGETS, tiny=DET))
    assert main(["scale", "--budget", "tiny", "--no-progress"]) == 0
    outs = list((tmp_path / "runs").glob("scale-*"))
    assert len(outs) == 1 and (outs[0] / "results.md").is_file()
    cap = capsys.readouterr()
    assert "wrote" in cap.out
    # --no-progress drops the bars, not the per-epoch lines: one per run here (1 epoch each, 5 runs)
    assert cap.err.count("epoch 1/1  train_loss") == 5 and "it/s" not in cap.err


def test_a_tie_prefers_no_coefficients(tmp_path):
    """Runs that all reach the same top-1 (e.g. at chance after a few steps) name no winner."""
    from convzoo.scaling.report import write_reports
    rows = []
    for key, curve, a, b, g in [("base", "base", None, None, None), ("depth-phi1", "depth", 2.0, 1.0, 1.0),
                                ("width-phi1", "width", 1.0, 1.414, 1.0)]:
        rows.append(dict(key=key, curve=curve, phi=0.0 if curve == "base" else 1.0, depth_mult=a or 1.0,
                         width_mult=b or 1.0, resolution_mult=g or 1.0, alpha=a, beta=b, gamma=g, resolution=40,
                         layers=10, channels=[8], params=1000, macs=2_000_000 if curve == "base" else 4_000_000,
                         predicted_macs_ratio=2.0, accuracy=0.13, latency_ms=1.0, train_time_s=1.0, wall_time_s=1.0))
    from convzoo.scaling.study import preferred_coefficients
    results = dict(runs=rows, skipped=[], preferred=preferred_coefficients(rows))
    write_reports(tmp_path, results)
    grid = (tmp_path / "grid.md").read_text()
    assert "No preference" in grid and "This data prefers" not in grid
    rows[2]["accuracy"] = 0.5
    write_reports(tmp_path, dict(runs=rows, skipped=[], preferred=preferred_coefficients(rows)))
    assert "This data prefers alpha=1, beta=1.414" in (tmp_path / "grid.md").read_text()
