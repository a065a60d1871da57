"""What ``convzoo compare`` may claim, decided on synthetic learning curves and results (no training):
a still-improving row is marked and kept out of the headline, the headline never spans a cost gap, and
each lecture claim gets the verdict its numbers support."""
from __future__ import annotations

import csv
import io

import pytest
from scipy import stats

from convzoo.analysis.stats import paired_diff
from convzoo.compare.claims import (GAIN_FLOOR, HOLDS, NOT_HELD, STOPPED, UNDECIDED, WIDE, claims, convergence, decide,
                                    headline, improving_note, seeds_for)
from convzoo.compare.report import summarize, to_csv, to_markdown

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


def test_convergence_is_measured_on_the_constant_rate_tail():
    """Evaluations (epoch, accuracy, lr): the stretch starts at the first evaluation at the final rate,
    so the jump a rate drop causes (epoch 6 -> 8 here) is not read as a net still improving."""
    def tail(final, plateau_gain):
        return [[6, final - 0.20, 3e-3], [8, final - plateau_gain, 3e-4], [10, final, 3e-4]]
    flat = convergence([tail(f, 0.002) for f in (0.86, 0.87, 0.85)])
    assert flat["stretch"] == (8, 10) and flat["same_lr"] is True and flat["still_improving"] is False
    assert flat["gain"] == pytest.approx(0.002)
    # hand-computed: gain 0.02 over the tail, finals' SD 0.01 -> still improving
    rising = convergence([tail(f, 0.02) for f in (0.86, 0.87, 0.85)])
    assert rising["still_improving"] is True and rising["spread"] == pytest.approx(0.01)
    # every evaluation at another rate (cosine): the last two, flagged as measuring the schedule too
    cos = convergence([[[6, 0.6, 1e-3], [8, 0.8, 2e-4]]] * 2)
    assert cos["same_lr"] is False and cos["stretch"] == (6, 8) and cos["still_improving"] is True
    g = dict(convergence=cos)
    assert "(while the lr changed)" in improving_note(g)


def test_convergence_against_the_conv_judges_the_gap_not_the_gain_every_block_shares():
    """Hand-computed: both rows gain ~1 point over the tail seed by seed (new images every epoch), so the
    row's gap to the conv does not move: not flagged, though its own gain (1.2) is over GAIN_FLOOR."""
    conv = [[[8, f - g, 3e-4], [10, f, 3e-4]] for f, g in ((0.92, 0.010), (0.91, 0.008), (0.93, 0.012))]
    row = [[[8, f - g, 3e-4], [10, f, 3e-4]] for f, g in ((0.90, 0.012), (0.90, 0.010), (0.92, 0.014))]
    c = convergence(row, conv)
    assert c["relative"] is True and c["own_gain"] == pytest.approx(0.012)
    assert c["gain"] == pytest.approx(0.002) and c["still_improving"] is False
    assert c["spread"] == pytest.approx(0.005773, abs=1e-6)      # SD of the final differences -.02, -.01, -.01
    assert convergence(row)["still_improving"] is True            # on its own gain it would be flagged
    # a row catching up on the conv by 3 points over the tail is flagged, and one falling 3 behind too
    up = [[[8, f - 0.04, 3e-4], [10, f, 3e-4]] for f in (0.90, 0.90, 0.92)]
    down = [[[8, f + 0.02, 3e-4], [10, f, 3e-4]] for f in (0.90, 0.90, 0.92)]
    assert convergence(up, conv)["gain"] == pytest.approx(0.03) and convergence(up, conv)["still_improving"]
    assert convergence(down, conv)["gain"] == pytest.approx(-0.03) and convergence(down, conv)["still_improving"]
    note = improving_note(dict(convergence=convergence(up, conv)))
    assert note.startswith("still moving against the conv: over epochs 8->10 (at the same lr) its gap to the conv "
                           "moved +3.0 points (its own gain +4.0)")
    # curves that do not line up with the conv's (another evaluation count): judged on the row's own gain
    assert convergence(up, [c[:1] for c in conv])["relative"] is False


def test_the_conv_is_the_reference_not_a_row_flagged_for_the_gain_every_row_shares():
    """Every row gains 1.5 points over the tail with the conv (the stream's shared gain): no row is
    flagged, the conv included, and the conv's own gain stays in its record."""
    res = _result([_runs("conv", [0.80, 0.81, 0.79], gain=0.015), _runs("mbconv", [0.85, 0.86, 0.84], gain=0.015)])
    conv, mb = res["groups"]
    assert conv["convergence"]["reference"] is True and conv["convergence"]["gain"] == pytest.approx(0.015)
    assert conv["convergence"]["still_improving"] is False and mb["convergence"]["still_improving"] is False
    # alone, the conv is judged on its own gain (nothing to be the reference of)
    assert _result([_runs("conv", [0.80, 0.81, 0.79], gain=0.015)])["groups"][0]["convergence"]["still_improving"]


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
    assert "†" in conv_row and "† convnext still moving against the conv: over epochs 3->5" in md
    headline_line = next(line for line in md.splitlines() if line.startswith("Headline"))
    assert "convnext" not in headline_line and "fused" not in headline_line
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(to_csv(res)))}
    assert rows["convnext"]["still_improving"] == "True" and rows["conv"]["still_improving"] == "False"


def test_headline_never_compares_across_a_cost_gap():
    h = headline([dict(name="conv", macs=10, accuracy=dict(mean=0.5, lo=0.4, hi=0.6, n=3)),
                  dict(name="fused", macs=40, accuracy=dict(mean=0.9, lo=0.85, hi=0.95, n=3))])
    assert h["best"] is None and dict(h["excluded"]) == {"fused": "4.0x the standard conv's MACs"}


# per-seed differences (row - conv) and their one-sided 95% bounds, from scipy.stats.ttest_1samp(d, 0)
# .confidence_interval(0.90): A (0.01, 0.02, -0.01, 0.02) -> [-0.0066, +0.0266]; B (-0.05, -0.04, -0.06, -0.05)
# -> [-0.0596, -0.0404]; C (-0.03, 0.0, -0.02, 0.01) -> [-0.0315, +0.0115]. Margin 0.02.
DIFFS = dict(A=[0.01, 0.02, -0.01, 0.02], B=[-0.05, -0.04, -0.06, -0.05], C=[-0.03, 0.0, -0.02, 0.01])


@pytest.mark.parametrize("case, kind, verdict, p", [
    ("A", "noninferior", HOLDS, 0.0119906),       # lower bound -0.66 > -2: at least as accurate
    ("B", "noninferior", NOT_HELD, 0.0026039),    # upper bound -4.0 < -2: worse by more than the margin
    ("C", "noninferior", WIDE, None),             # [-3.1, +1.1] contains -2
    ("B", "inferior", HOLDS, 0.0005861),          # upper bound < 0: less accurate
    ("A", "inferior", NOT_HELD, 0.0119906),       # lower bound > -2: within the margin of the conv
    ("C", "inferior", WIDE, None),                # contains 0 and -2
])
def test_decide_against_scipy_bounds(case, kind, verdict, p):
    conv = [0.80, 0.81, 0.79, 0.82]
    d = paired_diff([c + x for c, x in zip(conv, DIFFS[case])], conv, alpha=0.05)
    got, test = decide(d, kind, margin=0.02)
    assert got == verdict
    if p is not None:
        assert f"(p={p:.4f})" in test


def test_two_seeds_decide_nothing():
    # equal per-seed differences (accuracies on a small test set are multiples of 1/n): zero-width bounds
    d = paired_diff([0.85, 0.86], [0.80, 0.81], alpha=0.05)
    assert d.lo == d.hi == pytest.approx(0.05)
    assert decide(d, "noninferior") == (WIDE, "2 seeds: no verdict under 3")


def test_seeds_for_a_verdict_against_hand_computed_power():
    """SD 1 point from 4 seeds: its 80 % upper limit is 1 * sqrt(3 / chi2_{0.2, 3}) = sqrt(3 / 1.0052) = 1.7276
    (chi-square table). At alpha 0.05, power 0.9 (z = 1.2816) and an effect 2 points from the threshold:
    n = 7 gives (t_{0.95, 6} = 1.9432 + 1.2816) * 1.7276 / sqrt(7) = 2.106 > 2; n = 8 gives
    (1.8946 + 1.2816) * 1.7276 / sqrt(8) = 1.940 < 2: 8 seeds."""
    # per-seed differences of -1, +1, 0, 0 points (SD 0.8165) scaled to SD 1 point
    one = paired_diff([0.04 + x * 100 / 81.6497 for x in (-0.01, 0.01, 0.0, 0.0)], [0.0] * 4, alpha=0.05)
    assert one.sd == pytest.approx(0.01) and one.mean == pytest.approx(0.04)
    # non-inferior at +4 points: 6 points from the -2 margin; worse than the margin at -4: 2 points from it
    assert seeds_for(one, "noninferior", HOLDS) == 3
    worse = paired_diff([-0.04 + x * 100 / 81.6497 for x in (-0.01, 0.01, 0.0, 0.0)], [0.0] * 4, alpha=0.05)
    assert seeds_for(worse, "noninferior", NOT_HELD) == 8
    # "less accurate" at -1 point: 1 point from 0 (holds) and from -2 (within the margin): either way,
    # (t_{0.95, n-1} + 1.2816) * 1.7276 / sqrt(n) < 1 first at n = 27 (t_{0.95, 26} = 1.7056: 0.993; n = 26 with
    # t_{0.95, 25} = 1.7081: 1.013)
    mid = paired_diff([-0.01 + x * 100 / 81.6497 for x in (-0.01, 0.01, 0.0, 0.0)], [0.0] * 4, alpha=0.05)
    assert seeds_for(mid, "inferior", HOLDS) == seeds_for(mid, "inferior", WIDE) == 27
    # on its threshold no seed count decides it; a verdict reached with enough seeds gets no note
    on = paired_diff([-0.02 + x * 100 / 81.6497 for x in (-0.01, 0.01, 0.0, 0.0)], [0.0] * 4, alpha=0.05)
    assert seeds_for(on, "noninferior", WIDE) is None


def test_claims_say_which_verdicts_the_next_cpu_may_not_share():
    """A verdict decided on fewer seeds than seeds_for asks for says "close to its threshold" and how many;
    an undecided one says how many would decide it; a far one says nothing more."""
    conv = [0.80, 0.81, 0.79, 0.82]
    rows = {"mbconv": [0.03, 0.031, 0.029, 0.03],                # +3, SD 0.08: 5 points from -2
            "convnext": [-0.046, -0.035, -0.061, -0.057],         # does not hold; 8 seeds to be sure
            "dwsep@macs": [0.05, -0.09, 0.03, -0.06],            # spans the margin, -1.75: on it
            "spatial@macs": [0.01, -0.02, 0.01, -0.02]}          # spans 0 and -2 at -0.5
    res = _result([_runs("conv", conv)] + [_runs(n, [c + x for c, x in zip(conv, d)]) for n, d in rows.items()])
    by = {c["claim"][:25]: c for c in res["claims"]}
    mb, cn, dw = by["the inverted residual (MB"], by["the ConvNeXt block (arXiv"], by["at equal MACs, depthwise "]
    assert mb["verdict"] == HOLDS and "close to" not in mb["evidence"] and mb["seeds_needed"] == 3
    assert cn["verdict"] == NOT_HELD and cn["seeds_needed"] == 8
    assert "; close to its threshold: a verdict that another seed draw or CPU keeps 9 times in 10 needs about " \
           "8 seeds (--seeds 8)" in cn["evidence"]
    sp = by["at equal MACs, spatially "]
    assert sp["verdict"] == WIDE and sp["evidence"].endswith(
        "; about 44 seeds (--seeds 44) would decide it 9 times in 10")
    assert dw["verdict"] == WIDE and dw["seeds_needed"] is None and dw["evidence"].endswith(
        "; more than 50 seeds would decide it 9 times in 10")
    assert cn["evidence"].endswith("needs about 8 seeds (--seeds 8)")


def _scipy_bounds(diffs, alpha):
    """One-sided bounds at ``alpha`` from scipy (the oracle): the two-sided 1 - 2 alpha interval."""
    ci = stats.ttest_1samp(diffs, 0.0).confidence_interval(1 - 2 * alpha)
    return pytest.approx((ci.low, ci.high), abs=1e-9)


def test_accuracy_claims_are_paired_by_seed_and_decided_by_holm():
    """Five seeds, four accuracy claims, Holm's step-down at 0.05: ordered by p-value (scipy one-sided t-tests,
    below), the first is tested at 0.05 / 4, then 0.05 / 3, 0.05 / 2, 0.05; each claim's bounds are taken at
    its own level and decided against its margin."""
    conv = [0.80, 0.81, 0.79, 0.82, 0.78]
    rows = {"dwsep@macs": [0.01, 0.0, 0.01, -0.01, 0.0],        # p(> -2) = 0.00209: third, non-inferior
            "spatial@macs": [-0.03, -0.02, -0.04, -0.03, -0.03],  # p(< 0) = 0.00034: second, less accurate
            "mbconv": [0.02, -0.03, 0.04, -0.05, 0.01],          # p = 0.169 at best: last, too noisy
            "convnext": [-0.06, -0.05, -0.07, -0.05, -0.06]}     # p(< -2) = 0.00026: first, worse than the margin
    res = _result([_runs("conv", conv)] + [_runs(n, [c + x for c, x in zip(conv, d)]) for n, d in rows.items()])
    by = {c["claim"][:25]: c for c in res["claims"]}
    dw, sp = by["at equal MACs, depthwise "], by["at equal MACs, spatially "]
    mb, cn = by["the inverted residual (MB"], by["the ConvNeXt block (arXiv"]
    assert (dw["verdict"], sp["verdict"], mb["verdict"], cn["verdict"]) == (HOLDS, HOLDS, WIDE, NOT_HELD)
    for c, name, alpha in ((cn, "convnext", 0.05 / 4), (sp, "spatial@macs", 0.05 / 3), (dw, "dwsep@macs", 0.05 / 2),
                           (mb, "mbconv", 0.05)):
        assert (c["diff"]["lo"], c["diff"]["hi"]) == _scipy_bounds(rows[name], alpha) and c["diff"]["alpha"] == alpha
    assert "paired over 5 seeds, one-sided 97.5% bounds [-0.8, +1.2] (Holm: 3 of 4, at 0.05/2)" in dw["evidence"]
    assert "(Holm: 1 of 4, at 0.05/4)" in cn["evidence"] and "(Holm: 4 of 4, at 0.05/1)" in mb["evidence"]
    assert "(p=0.0021)" in dw["evidence"] and "(p=0.0003)" in sp["evidence"]      # scipy one-sided t-tests
    line = next(s for s in to_markdown(res).splitlines() if s.startswith("Claim: at equal MACs, depthwise"))
    assert line.endswith(f"Verdict: {HOLDS}.") and "(within 2 points)" in line
    # the table's column is the two-sided paired test: dwsep@macs p = 2 * 0.3107 before Holm
    g = next(g for g in res["groups"] if g["name"] == "dwsep@macs")
    assert g["p"] == pytest.approx(2 * 0.3106541, abs=1e-6) and g["delta_vs_conv"] == pytest.approx(0.002)


def test_holm_stops_at_the_first_claim_its_level_does_not_decide():
    """dwsep@macs is second (p = 0.0186 > 0.05 / 3: not decided), so spatial@macs, third with p = 0.0212, is
    not decided either, although its own level (0.05 / 2) would have decided it: stepping on past an
    undecided claim would break Holm's family-wise error guarantee."""
    conv = [0.80, 0.81, 0.79, 0.82, 0.78]
    base = [0.01, 0.0, 0.01, -0.01, 0.0]
    rows = {"convnext": [-0.06, -0.05, -0.07, -0.05, -0.06], "dwsep@macs": [x - 0.0105 for x in base],
            "spatial@macs": [x - 0.011 for x in base], "mbconv": [0.02, -0.03, 0.04, -0.05, 0.01]}
    def p_above(name):
        return stats.ttest_1samp(rows[name], -0.02, alternative="greater").pvalue
    assert p_above("dwsep@macs") == pytest.approx(0.018583, abs=1e-6)
    assert p_above("spatial@macs") == pytest.approx(0.021197, abs=1e-6)
    res = _result([_runs("conv", conv)] + [_runs(n, [c + x for c, x in zip(conv, d)]) for n, d in rows.items()])
    got = {c["claim"][:25]: c for c in res["claims"]}
    assert got["the ConvNeXt block (arXiv"]["verdict"] == NOT_HELD
    assert got["at equal MACs, depthwise "]["verdict"] == WIDE
    sp = got["at equal MACs, spatially "]
    assert sp["verdict"] == STOPPED and "within the margin of the conv or better" in sp["evidence"]
    assert (sp["diff"]["lo"], sp["diff"]["hi"]) == _scipy_bounds(rows["spatial@macs"], 0.05 / 2)
    assert sp["diff"]["lo"] > -0.02


def test_pairing_follows_the_seeds_not_the_order():
    conv = _runs("conv", [0.80, 0.81, 0.79])
    row = list(reversed(_runs("dwsep@macs", [0.81, 0.82, 0.80])))   # seeds 2, 1, 0
    res = _result([conv, row])
    c = next(c for c in res["claims"] if "depthwise" in c["claim"] and "equal" in c["claim"])
    assert c["diff"]["sd"] == pytest.approx(0.0, abs=1e-12) and c["verdict"] == HOLDS


def test_a_verdict_that_changed_over_the_tail_is_not_decided_and_reversed_claims_read_right():
    # convnext ends level with conv (non-inferior) but was 10 points behind at the tail's first
    # evaluation (worse by more than the margin): its verdict depends on where training stopped
    res = _result([_runs("conv", [0.80, 0.81, 0.79]), _runs("convnext", [0.80, 0.81, 0.79], gain=0.1),
                   _runs("mbconv", [0.85, 0.86, 0.84], gain=0.04), _runs("spatial@macs", [0.70, 0.71, 0.69])])
    got = {c["claim"].split(" (")[0][:30]: c for c in res["claims"]}
    cn = got["the ConvNeXt block"]
    assert cn["verdict"] == UNDECIDED and "; at epoch 3: -10.0 [-10.0, -10.0], does not hold" in cn["evidence"]
    # mbconv rose 4 points over the tail (a row still improving) but was non-inferior at both evaluations
    mb = got["the inverted residual"]
    assert mb["verdict"] == HOLDS and "the same at epoch 3 (+1.0 [+1.0, +1.0])" in mb["evidence"]
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

    from convzoo.compare.report import compare_figure
    from convzoo.plotting import name_box
    fig = compare_figure(_readme_like_result())
    r = fig._get_renderer()          # the renderer place_labels measured with
    try:
        panels = [ax for ax in fig.axes if any(t.get_text() for t in ax.texts)]
        assert len(panels) == 4          # three scatters and the learning curves
        for ax in panels:
            names = [t for t in ax.texts if t.get_text()]
            assert len(names) == 9
            boxes = [name_box(t, r) for t in names]
            ticks = [t.get_window_extent(r) for t in ax.get_xticklabels() + ax.get_yticklabels() if t.get_text()]
            for i, a in enumerate(boxes):
                assert not any(a.overlaps(b) for b in boxes[i + 1:] + ticks), (ax.get_title(), names[i].get_text())
            # the test can fail: at one fixed offset for all, the names around 10M MACs collide
            for t in names:
                t.set_position((6, 5))
                t.set_horizontalalignment("left")
            fixed = [name_box(t, r) for t in names]
            assert any(a.overlaps(b) for i, a in enumerate(fixed) for b in fixed[i + 1:])
    finally:
        plt.close(fig)
