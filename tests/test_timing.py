"""convzoo.analysis.timing: the one timing loop behind every reported latency. Checked against what
must hold of any honest timer (call counts, sync placement, the clock itself via time.sleep's
lower bound, the round-robin order), not against its own output."""
import time

import pytest

from convzoo.analysis.timing import (interleaved_medians, interleaved_times, median_ms, pooled_medians, round_ratios,
                                     time_calls)


def test_time_calls_counts_warmup_and_runs_and_syncs_each_timed_call():
    log = []
    times = time_calls(lambda: log.append("call"), warmup=3, runs=4, sync=lambda: log.append("sync"))
    assert len(times) == 4 and all(t >= 0 for t in times)
    # 3 untimed calls, one sync after them, then call+sync per timed call
    assert log == ["call"] * 3 + ["sync"] + ["call", "sync"] * 4


def test_median_ms_is_at_least_the_sleep_it_times():
    # time.sleep guarantees at least the requested duration: a lower bound the clock must respect
    assert median_ms(lambda: time.sleep(0.003), warmup=0, runs=3) >= 3.0


def test_interleaved_medians_rotates_order_and_ranks_by_cost():
    order = []
    fns = {"slow": lambda: (order.append("slow"), time.sleep(0.004)),
           "fast": lambda: order.append("fast")}
    med = interleaved_medians(fns, warmup=1, runs=4, rounds=2, settle_s=0.0)
    assert med["slow"] >= 0.004 > med["fast"]
    # warm-up of each, then round 0: slow block (1 untimed + 2 timed) before fast; round 1: fast first
    assert order == ["slow", "fast"] + ["slow"] * 3 + ["fast"] * 3 + ["fast"] * 3 + ["slow"] * 3


@pytest.mark.parametrize("kw", [{"runs": 0}, {"rounds": 0}])
def test_timing_rejects_empty_measurements(kw):
    with pytest.raises(ValueError, match="must be >= 1"):
        if "rounds" in kw:
            interleaved_medians({"a": lambda: None}, **kw)
        else:
            time_calls(lambda: None, **kw)


def test_interleaved_times_keeps_rounds_and_round_ratios_compare_within_rounds():
    fns = {"ref": lambda: time.sleep(0.006), "half": lambda: time.sleep(0.001)}
    times = interleaved_times(fns, warmup=0, runs=6, rounds=3, settle_s=0.0)
    assert {k: [len(r) for r in v] for k, v in times.items()} == {"ref": [2, 2, 2], "half": [2, 2, 2]}
    med = pooled_medians(times)
    assert med["ref"] >= 0.006 and med["half"] < med["ref"]
    ratios = round_ratios(times, "ref")
    assert ratios["ref"] == [1.0, 1.0, 1.0]
    assert len(ratios["half"]) == 3 and all(r > 1.0 for r in ratios["half"])   # faster than ref
    with pytest.raises(KeyError, match="not among"):
        round_ratios(times, "missing")


def test_drop_outliers_removes_only_the_far_call():
    from convzoo.analysis.timing import drop_outliers
    times = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 50.0]           # one call another process held up
    kept, n = drop_outliers(times)
    assert n == 1 and 50.0 not in kept and len(kept) == 6


def test_stable_times_remeasures_an_outlier_and_marks_instability():
    from convzoo.analysis.timing import mark, stable_times
    calls = {"n": 0}

    def once_slow():                  # the 3rd call sleeps 30 ms, every other call ~0
        calls["n"] += 1
        if calls["n"] == 3:
            time.sleep(0.03)
    state = {"k": 0}

    def alternating():                # 1 ms and 4 ms in turn: a spread no repeat can settle
        state["k"] += 1
        time.sleep(0.001 if state["k"] % 2 else 0.004)
    st = stable_times({"steady": once_slow, "wild": alternating}, warmup=0, runs=8, rounds=2,
                      max_repeats=2, settle_s=0.0)
    assert st["steady"]["outliers"] >= 1 and st["steady"]["median_s"] < 0.03
    assert st["wild"]["stable"] is False and st["wild"]["repeats"] == 2 and mark(st["wild"]) == "~"
    assert st["wild"]["q1_s"] <= st["wild"]["median_s"] <= st["wild"]["q3_s"]


def test_measurement_setup_sets_and_reports_threads(monkeypatch):
    import torch

    from convzoo.analysis.timing import measurement_setup
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    try:
        assert measurement_setup(1) == {"threads": 1, "omp_wait_policy": "PASSIVE"}
    finally:
        torch.set_num_threads(before)
