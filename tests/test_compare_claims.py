"""What ``convzoo compare`` may claim, decided on synthetic learning curves and results (no training):
a still-improving row is marked and kept out of the headline, the headline never spans a cost gap, and
each lecture claim gets the verdict its numbers support."""
from __future__ import annotations

import csv
import io

import pytest

from convzoo.compare_claims import (GAIN_FLOOR, HOLDS, NOT_HELD, NOT_SIG, UNDECIDED, claims, convergence,
                                    headline)
from convzoo.compare_report import summarize, to_csv, to_markdown

CONV_MACS, CONV_PARAMS = 10_690_000, 112_106


def _curves(finals, gain, mid_epoch=3, last_epoch=5):
    """One curve per seed: accuracy ``final - gain`` at ``mid_epoch``, ``final`` at ``last_epoch``."""
    return [[[mid_epoch, f - gain], [last_epoch, f]] for f in finals]


def _runs(name, accs, *, macs=CONV_MACS, params=CONV_PARAMS, gain=0.0, variant=None):
    variant = variant or name.split("@")[0]
    return [dict(name=name, variant=variant, widths=[32, 64], seed=s, accuracy=a, params=params, macs=macs,
                 train_time_s=1.0, curve=c) for s, (a, c) in enumerate(zip(accs, _curves(accs, gain)))]


def _lat(median, spread=0.02):
    return dict(median=median, q1=median - spread, q3=median + spread)


def _result(rows, latency=None):
    runs = [r for row in rows for r in row]
    names = dict.fromkeys(r["name"] for r in runs)
    lat = {n: (latency or {}).get(n, _lat(0.5)) for n in names}
    meta = dict(dataset="cluttered_digits", train_samples=100, test_samples=100, input_size=[1, 16, 16],
                seeds=[0, 1, 2], match="macs", threads=1)
    return summarize(runs, lat, meta)


def test_convergence_compares_the_last_stretch_gain_with_the_seed_spread():
    rising = convergence(_curves([0.60, 0.62, 0.58], gain=0.08))
    assert rising["still_improving"] and rising["gain"] == pytest.approx(0.08) and rising["stretch"] == (3, 5)
    assert rising["spread"] == pytest.approx(0.02)                       # SD of 0.60, 0.62, 0.58
    # the same gain drowned in a larger seed-to-seed spread is not evidence of a rising curve
    assert convergence(_curves([0.50, 0.70, 0.60], gain=0.08))["still_improving"] is False
    # no spread at all (identical seeds) still needs more than GAIN_FLOOR to count as rising
    assert convergence(_curves([0.6, 0.6], gain=GAIN_FLOOR / 2))["still_improving"] is False
    assert convergence(_curves([0.6, 0.6], gain=2 * GAIN_FLOOR))["still_improving"] is True
    assert convergence([[[5, 0.6]], [[5, 0.61]]])["still_improving"] is None    # one evaluation: unknown


def test_still_improving_row_is_marked_and_kept_out_of_the_headline():
    res = _result([_runs("conv", [0.80, 0.81, 0.79]),
                   _runs("mbconv", [0.85, 0.86, 0.84]),
                   _runs("convnext", [0.60, 0.62, 0.61], gain=0.10),            # unconverged: would be "worst"
                   _runs("fused", [0.90, 0.91, 0.92], macs=4 * CONV_MACS),     # 4x the cost: would be "best"
                   _runs("dwsep", [0.70, 0.71, 0.69], macs=CONV_MACS // 4)])
    h = res["headline"]
    assert (h["best"], h["worst"]) == ("mbconv", "conv") and h["delta"] == pytest.approx(0.05)
    why = dict(h["excluded"])
    assert set(why) == {"convnext", "fused", "dwsep"}
    assert "still improving" in why["convnext"] and "4.0x" in why["fused"] and "0.2x" in why["dwsep"]
    md = to_markdown(res)
    conv_row = next(line for line in md.splitlines() if line.startswith("| convnext |"))
    assert "†" in conv_row and "† convnext still improving: epochs 3->5" in md
    headline_line = next(line for line in md.splitlines() if line.startswith("Headline"))
    assert "convnext" not in headline_line and "fused" not in headline_line
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(to_csv(res)))}
    assert rows["convnext"]["still_improving"] == "True" and rows["conv"]["still_improving"] == "False"


def test_headline_never_compares_across_a_cost_gap():
    h = headline([dict(name="conv", macs=10, accuracy=dict(mean=0.5, lo=0.4, hi=0.6, n=3)),
                  dict(name="fused", macs=40, accuracy=dict(mean=0.9, lo=0.85, hi=0.95, n=3))])
    assert h["best"] is None and dict(h["excluded"]) == {"fused": "4.0x the standard conv's MACs"}


@pytest.mark.parametrize("accs, verdict", [
    ([0.90, 0.91, 0.89], HOLDS),                 # clearly better than conv: the claim holds
    ([0.60, 0.61, 0.59], NOT_HELD),              # clearly worse: does not hold at this budget
    ([0.78, 0.83, 0.80], NOT_SIG),               # within the noise
])
def test_accuracy_claim_verdicts_follow_the_holm_test(accs, verdict):
    res = _result([_runs("conv", [0.80, 0.81, 0.79]), _runs("dwsep@macs", accs)])
    c = next(c for c in res["claims"] if c["claim"].startswith("at equal MACs, depthwise separable"))
    assert c["verdict"] == verdict and "points vs conv (Holm p=" in c["evidence"]
    line = next(s for s in to_markdown(res).splitlines() if s.startswith("Claim: at equal MACs, depthwise"))
    assert line.endswith(f"Verdict: {verdict}.")


def test_claims_on_rows_still_improving_are_not_decided_and_reversed_claims_read_right():
    res = _result([_runs("conv", [0.80, 0.81, 0.79]), _runs("convnext", [0.60, 0.61, 0.59], gain=0.1),
                   _runs("spatial@macs", [0.70, 0.71, 0.69])])
    got = {c["claim"].split(" (")[0][:30]: c["verdict"] for c in res["claims"]}
    assert got["the ConvNeXt block"] == UNDECIDED
    # "spatially separable is less accurate" holds when it is significantly worse
    assert next(c for c in res["claims"] if "spatially separable" in c["claim"])["verdict"] == HOLDS


def test_cost_and_latency_claims():
    dw = _runs("dwsep", [0.7, 0.71, 0.69], macs=CONV_MACS // 4, params=CONV_PARAMS // 3)
    fused = _runs("fused@macs", [0.8, 0.8, 0.8], macs=CONV_MACS)
    res = _result([_runs("conv", [0.80, 0.81, 0.79]), dw, _runs("mbconv", [0.8, 0.81, 0.8]), fused],
                  latency=dict(conv=_lat(0.50), dwsep=_lat(0.50), mbconv=_lat(0.90), **{"fused@macs": _lat(0.60)}))
    by = {c["claim"].split(" ")[0]: c for c in claims(res["groups"])}
    assert by["depthwise"]["verdict"] == HOLDS and "4.0x fewer MACs, 3.0x fewer params" in by["depthwise"]["evidence"]
    assert by["MACs"]["verdict"] == HOLDS and "1.00x the speed" in by["MACs"]["evidence"]
    assert by["Fused-MBConv"]["verdict"] == HOLDS and "IQRs apart" in by["Fused-MBConv"]["evidence"]
    # a dwsep that ran 4x faster would refute "MACs are not latency"
    res = _result([_runs("conv", [0.8, 0.8, 0.8]), dw], latency=dict(conv=_lat(0.5), dwsep=_lat(0.125, 0.01)))
    assert next(c for c in res["claims"] if c["claim"].startswith("MACs"))["verdict"] == NOT_HELD


def _readme_like_result():
    """The README's nine rows (accuracies, MACs, latencies as measured there): six near 10M MACs."""
    rows = [("conv", 0.567, 10.69, 0.54), ("spatial", 0.475, 7.55, 0.44), ("dwsep", 0.503, 2.52, 0.54),
            ("mbconv", 0.614, 10.53, 0.93), ("fused", 0.668, 43.20, 1.39), ("convnext", 0.356, 10.85, 0.82),
            ("spatial@macs", 0.55, 10.9, 0.57), ("dwsep@macs", 0.596, 10.4, 0.83), ("fused@macs", 0.57, 10.8, 0.55)]
    res = _result([_runs(n, [a - 0.01, a, a + 0.01], macs=int(m * 1e6)) for n, a, m, _ in rows],
                  latency={n: _lat(t, 0.02) for n, _, _, t in rows})
    return res


def test_compare_plot_names_never_overlap():
    """Bounding boxes from matplotlib's renderer: no two point names (or a name and a tick label) of a
    panel intersect, where the fixed offset used before printed them over each other."""
    import matplotlib.pyplot as plt

    from convzoo.compare_report import compare_figure
    fig = compare_figure(_readme_like_result())
    r = fig.canvas.get_renderer()
    try:
        panels = [ax for ax in fig.axes if any(t.get_text() for t in ax.texts)]
        assert len(panels) == 3
        for ax in panels:
            names = [t for t in ax.texts if t.get_text()]
            assert len(names) == 9
            boxes = [t.get_window_extent(r) for t in names]
            ticks = [t.get_window_extent(r) for t in ax.get_xticklabels() + ax.get_yticklabels() if t.get_text()]
            for i, a in enumerate(boxes):
                assert not any(a.overlaps(b) for b in boxes[i + 1:] + ticks), (ax.get_title(), names[i].get_text())
            # the test can fail: at one fixed offset for all, the names around 10M MACs collide
            for t in names:
                t.set_position((6, 5))
                t.set_horizontalalignment("left")
            fixed = [t.get_window_extent(r) for t in names]
            assert any(a.overlaps(b) for i, a in enumerate(fixed) for b in fixed[i + 1:])
    finally:
        plt.close(fig)
