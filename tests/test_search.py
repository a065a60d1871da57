"""``convzoo search``: rewards, Pareto front, resume after a crash, and the best spec round trip."""
import json
import math

import optuna
import pytest

import convzoo.train
from convzoo import create_model
from convzoo.cli import main
from convzoo.scaling.budget import Budget
from convzoo.analysis import count_macs
from convzoo.search.reward import efficientnetv2_reward, mnasnet_reward
from convzoo.search.space import SHAPES_SPACE, SearchSpace, StageChoices
from convzoo.search.study import STUDY_NAME, pareto_front, run_search


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CONVZOO_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def test_mnasnet_reward_matches_the_paper():
    # Fig. 3 of MnasNet: ACC = 0.5, T = 80 ms. At T the reward is ACC; w = -0.07 on both sides (soft)
    assert mnasnet_reward(0.5, 80, 80) == 0.5
    assert math.isclose(mnasnet_reward(0.5, 160, 80), 0.5 * 2 ** -0.07)
    assert math.isclose(mnasnet_reward(0.5, 40, 80), 0.5 * 0.5 ** -0.07)
    # the rule of thumb behind beta = -0.07: doubling latency must buy about +5 % relative accuracy
    assert math.isclose(mnasnet_reward(0.5 * 1.05, 160, 80), 0.5, rel_tol=2e-3)
    # hard constraint alpha = 0, beta = -1: free below T, proportional penalty above
    assert mnasnet_reward(0.5, 40, 80, 0.0, -1.0) == 0.5
    assert math.isclose(mnasnet_reward(0.5, 160, 80, 0.0, -1.0), 0.25)
    with pytest.raises(ValueError, match="target"):
        mnasnet_reward(0.5, 1, 0)


def test_efficientnetv2_reward():
    assert efficientnetv2_reward(0.8, 10, 1e6, 10, 1e6) == 0.8
    r = efficientnetv2_reward(0.8, 20, 4e6, 10, 1e6)
    assert math.isclose(r, 0.8 * 2 ** -0.07 * 4 ** -0.05)


def test_pareto_front_matches_optuna():
    """Our front equals Optuna's multi-objective best_trials on the same points."""
    pts = [(0.5, 10), (0.6, 12), (0.55, 20), (0.7, 30), (0.4, 5), (0.7, 25), (0.3, 9), (0.6, 11)]
    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc, cost in pts:
        study.add_trial(optuna.trial.create_trial(values=[acc, cost], params={},
                                                  distributions={}))
    theirs = sorted((t.values[0], t.values[1]) for t in study.best_trials)
    ours = sorted((p["accuracy"], p["cost"]) for p in
                  pareto_front([dict(accuracy=a, cost=c) for a, c in pts]))
    assert ours == theirs == sorted([(0.4, 5), (0.5, 10), (0.6, 11), (0.7, 25)])


def test_space_describes_mbconv_and_fused_stages():
    assert SHAPES_SPACE.size() == (2 * 2 * 3 * 2 * 2 * 3) * (2 * 2 * 3 * 3 * 2 * 3) ** 3
    choice = {f"s{i}_{k}": v for i in range(4) for k, v in
              dict(block="fused", kernel=5, expand=4, layers=2, se=0.25,
                   width=SHAPES_SPACE.stages[i].widths[0]).items()}
    choice["s3_block"] = "mbconv"
    table = SHAPES_SPACE.table(choice)
    assert [r.block.__name__ for r in table] == ["FusedMBConv"] * 3 + ["MBConv"]
    assert [r.stride for r in table] == [1, 2, 2, 2] and table[0].kernel_size == 5
    net = create_model("searched", spec=SHAPES_SPACE.spec(choice, 7))
    assert type(net.stages[3][0]).__name__ == "MBConv" and net.stages[3][0].dw.conv.kernel_size == (5, 5)
    with pytest.raises(ValueError, match="s0_block"):
        SHAPES_SPACE.table({})


# a tiny space and data so a trial trains in about a second
TINY_SPACE = SearchSpace(stages=(StageChoices(stride=2, widths=(8, 12), layers=(1,)),
                                 StageChoices(stride=2, widths=(16, 24), layers=(1, 2))),
                         stem_channels=8, head_channels=32, resolution=24)
TINY = Budget("tiny", minutes=10, train_size=12, test_size=6, epochs=1, batch_size=12, trials=3)


class Crash(Exception):
    pass


def test_killed_search_resumes_without_repeating_trials(tmp_path, monkeypatch):
    out = tmp_path / "search"

    def crash_after_two(n_complete):
        if n_complete == 2:
            raise Crash("killed")
    with pytest.raises(Crash):
        run_search(out, TINY, space=TINY_SPACE, progress=False, on_trial_end=crash_after_two)
    storage = f"sqlite:///{out / 'study.db'}"
    before = {t.number: t.datetime_complete for t in optuna.load_study(study_name=STUDY_NAME,
                                                                        storage=storage).trials
              if t.state == optuna.trial.TrialState.COMPLETE}
    assert len(before) == 2

    calls = []
    real_fit = convzoo.train.fit

    def counting_fit(model, *a, **k):
        calls.append(model)
        return real_fit(model, *a, **k)
    monkeypatch.setattr(convzoo.train, "fit", counting_fit)
    result = run_search(out, TINY, space=TINY_SPACE, progress=False)
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 3 == result["trials"]
    assert len(calls) <= 1                           # at most the one missing trial was trained
    for t in done:                                   # the finished trials are untouched
        if t.number in before:
            assert t.datetime_complete == before[t.number]

    # the best spec builds, has the MACs the search reported, and trains with `convzoo train`
    spec = json.loads((out / "best_spec.json").read_text())
    best = result["best"]
    assert spec["meta"]["macs"] == best["macs"] == study.trials[best["trial"]].user_attrs["macs"]
    net = create_model("searched", spec=str(out / "best_spec.json"))
    assert count_macs(net, (3, spec["resolution"], spec["resolution"])) == best["macs"]
    assert {(r["trial"]) for r in result["pareto"]} <= {t.number for t in done}
    for f in ("pareto.json", "pareto.md", "trials.csv", "search_result.json"):
        assert (out / f).is_file()
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    run = tmp_path / "train"
    rc = main(["train", "--model", "searched", "--model-arg", f"spec={out / 'best_spec.json'}",
               "--dataset", "shapes", "--data-arg", "resolution=24", "--data-arg", "size=8",
               "--epochs", "1", "--batch-size", "8", "--out", str(run), "--no-progress"])
    assert rc == 0
    assert json.loads((run / "report.json").read_text())["macs"] == best["macs"]

    with pytest.raises(ValueError, match="different settings"):
        run_search(out, TINY, space=TINY_SPACE, progress=False, cost="latency")


def test_cli_rejects_bad_options(tmp_path, capsys):
    assert main(["search", "--out", str(tmp_path / "s"), "--trials", "0"]) == 2
    assert "argument --trials: expected an integer in [1, 1000000], got '0'" in capsys.readouterr().err


def test_v2_mode_pareto_objective_latency_cost(tmp_path):
    """EfficientNetV2 mode: the stored reward is A * (S/S_T)^-0.07 * (P/P_T)^-0.05 of the trial's
    measured step time and size; the multi-objective study keeps (accuracy, latency) as its values."""
    out = tmp_path / "v2"
    budget = Budget("tiny", minutes=10, train_size=12, test_size=6, epochs=1, batch_size=12, trials=1)
    result = run_search(out, budget, space=TINY_SPACE, progress=False, mode="v2", objective="pareto",
                        cost="latency", constraint="hard")
    t = optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{out / 'study.db'}").trials[0]
    a, targets = t.user_attrs, json.loads((out / "search.json").read_text())["targets"]
    assert t.values == [a["accuracy"], a["latency_ms"]]
    assert math.isclose(a["reward"], efficientnetv2_reward(a["accuracy"], a["step_ms"], a["params"],
                                                           targets["step_ms"], targets["params"]))
    assert result["best"]["trial"] == 0 and len(result["pareto"]) == 1


class _SlowClock:
    """``time`` for one module, whose monotonic clock jumps an hour per call: a very busy machine."""

    def __init__(self, clock: list):
        import time
        self._time, self.clock = time, clock

    def monotonic(self):
        self.clock[0] += 3600.0
        return self.clock[0]

    def __getattr__(self, name):
        return getattr(self._time, name)


def _busy(monkeypatch):
    clock = [0.0]                      # one clock for the study and the trial driver
    for mod in ("convzoo.search.study.time", "convzoo.scaling.workers.time"):
        monkeypatch.setattr(mod, _SlowClock(clock))


def test_a_busy_machine_runs_every_trial(tmp_path, monkeypatch):
    """The budget is work: however slow the machine, the search runs its trials (no time limit)."""
    _busy(monkeypatch)
    result = run_search(tmp_path / "s", TINY, space=TINY_SPACE, progress=False)
    assert result["trials"] == 3 and result["stopped"] == "done" and result["time_limit"] is None


def test_time_limit_is_opt_in_says_what_it_cut_and_exits_non_zero(tmp_path, monkeypatch, capsys):
    from convzoo.scaling.budget import BUDGETS, CUT_SHORT
    monkeypatch.setattr("convzoo.scaling.budget.BUDGETS", dict(BUDGETS, tiny=TINY))
    _busy(monkeypatch)                 # every trial "takes" hours: a 90-minute limit stops after the first
    out = tmp_path / "cut"
    assert main(["search", "--budget", "tiny", "--time-limit", "90", "--no-progress", "--out", str(out)]) == CUT_SHORT
    err = capsys.readouterr().err
    assert "the time limit of 90 min cut the study short: 1 of 3 trials finished; rerun" in err
    assert json.loads((out / "search_result.json").read_text())["stopped"] == "time"
    assert main(["search", "--budget", "tiny", "--no-progress", "--out", str(out)]) == 0   # no limit: done
    assert json.loads((out / "search_result.json").read_text())["trials"] == 3
