"""What ``convzoo compare`` may claim: which rows converged, which pairs the headline may set side by
side, and a verdict on each of the lecture's claims from the numbers this run measured.

    groups (per-row statistics and learning curves, from report.summarize)
      -> convergence: the gain between two evaluations under the same learning rate (the recipe's
         constant-rate tail) vs the seeds' spread, of each row's gap to the standard conv (the conv is
         the reference; alone, a row's own gain): still improving or not, the † of the table
      -> headline: best vs worst among converged rows at matched cost (never across a cost gap)
      -> claims: (claim, evidence, verdict) with verdict "holds" / "does not hold at this budget" /
         "not decided: ..." (the interval spans the margin, or the verdict changed over the tail);
         the latency claims: "not significant" when the IQRs overlap

An accuracy claim compares a row with the standard conv trained with the same seeds (the same data
order and initialisation stream): the per-seed differences, one-sided t bounds, and the claim's own
margin. The k accuracy claims are decided together by Holm's step-down (so that all k verdicts hold
together at ALPHA): the claim with the strongest evidence is tested at ALPHA / k, the next at
ALPHA / (k - 1), ..., the last at ALPHA; at the first claim its level does not decide, the procedure
stops and the claims after it are not decided either. Holm decides everything Bonferroni (ALPHA / k for
all) decides, and more: on 4 seeds its last level's t quantile is 2.35 where Bonferroni's is 4.18.
"At least as accurate" is a non-inferiority claim: it holds when the lower bound is above -MARGIN and
does not hold when the upper bound is below -MARGIN. "Less accurate" holds when the upper
bound is below 0 and does not hold when the lower bound is above -MARGIN (within the margin of the
conv, or better). Anything else is "not decided: the interval spans the margin".

A claim's convergence check does not ask whether each row has stopped gaining (on this budget every
block still gains a little at the low rate, and they gain together) but whether its verdict has: the
same test on the evaluation at the start of the tail, at the same learning rate, must reach the same
verdict, else "not decided: the verdict changed over the tail".

A verdict that a new seed draw or another CPU (whose rounding acts like one) may not share says so: where
the seeds it was decided on are fewer than :func:`seeds_for` asks for at its effect and spread, its
evidence ends "close to its threshold: ... needs about N seeds"; an undecided one says how many would
decide it.

A table of accuracies after a short budget ranks speed of convergence as much as the blocks; these
decisions keep a still-improving row or a 4x-the-MACs row out of any sentence that reads as a lesson.
"""
from __future__ import annotations

import math
import statistics
from typing import Optional, Sequence

from ..analysis.stats import paired_diff
from .._extras import require

COST_GAP = 1.25        # the headline sets side by side rows whose MACs are within 1.25x of the conv's
MARGIN = 0.02          # non-inferiority margin of every accuracy claim: 2 points of test accuracy
# a tail gain under half the claims' margin (1 point) counts as flat, whatever the spread: a row that
# moves less than that would not change a verdict or a headline. It was half a point until 2026-12-07,
# when the default job's tail gains (2 epochs at the low rate, 4 seeds) were +0.1 to +0.7 points on two
# floating-point paths of one machine, and the rows over 0.5 differed between the paths (fused on one,
# dwsep on the other): a flag decided by the CPU's rounding, not by the net
GAIN_FLOOR = MARGIN / 2
ALPHA = 0.05           # family-wise error of the accuracy claims of one run
# no verdict from two seeds: on a small test set two per-seed differences can be equal (accuracies are
# multiples of 1/n), a zero SD gives zero-width bounds, and such a "decision" flipped between two
# floating-point paths of one smoke job (tests/test_compare.py)
MIN_PAIRS = 3
HOLDS, NOT_HELD, NOT_SIG, UNDECIDED = ("holds", "does not hold at this budget", "not significant",
                                       "not decided: the verdict changed over the tail")
WIDE = "not decided: the interval spans the margin"
# seeds_for: the seeds a verdict needs to be reached 9 times in 10 (by another seed draw, or another CPU,
# whose rounding moves each per-seed difference by about as much: docs/cli.md), sized with the 80 % upper
# confidence limit of the measured SD; past MOST_SEEDS, "more than"
POWER, SD_CONFIDENCE, MOST_SEEDS = 0.9, 0.8, 50
STOPPED = "not decided: Holm stopped at a claim before it"


def _same_lr(a: Optional[float], b: Optional[float]) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)


def _stretch(curve: Sequence[Sequence[float]]) -> tuple[int, bool]:
    """Index of the evaluation the last one is compared with: the first of the final learning rate
    (a constant-rate tail) when there is one before the last, else the one just before it."""
    lrs = [p[2] if len(p) > 2 else None for p in curve]
    k = len(curve) - 1
    while k > 0 and _same_lr(lrs[k - 1], lrs[-1]):
        k -= 1
    return (k, True) if k < len(curve) - 1 else (len(curve) - 2, False)


def convergence(curves: Sequence[Sequence[Sequence[float]]],
                reference: Optional[Sequence[Sequence[Sequence[float]]]] = None) -> dict:
    """One row's learning curves, per seed ``[(epoch, test accuracy, lr), ...]`` (at least two
    evaluations): ``still_improving`` when the mean gain over the stretch exceeds both the seeds'
    spread (sample SD of the final accuracies) and :data:`GAIN_FLOOR`.

    The stretch runs from the first evaluation at the final learning rate to the last one, so that on
    a constant-rate tail the gain measures the net, not the schedule (``same_lr`` True). Without the
    learning rates, or where every evaluation had another rate (e.g. cosine), it is the last two
    evaluations, and ``same_lr`` is False: that gain also measures the schedule.

    ``reference``: the standard conv's curves for the same seeds, in the same order. The row is then
    judged against it (``relative`` True): the gain is how far its gap to the conv moved over the stretch
    (its gain minus the conv's, per seed; either sign), the spread is the SD of the per-seed differences
    at the end, and ``own_gain`` keeps the row's own gain. Every claim and the headline are differences
    from the conv: a gap that still moves makes them depend on where training stopped, a gain every block
    shares does not. On new images each epoch every block still gains about a point over the tail
    (2026-12-07), so the row's own gain would flag nearly every row for what they share.
    ``still_improving`` is None when a curve has fewer than two evaluations (nothing to compare).
    ``start``: each curve's accuracy at the stretch's first evaluation (the claims decide there too).
    """
    if not curves or any(len(c) < 2 for c in curves):
        return dict(still_improving=None, gain=None, spread=None, stretch=None, same_lr=None, start=None)
    k, same_lr = _stretch(curves[0])
    gains = [c[-1][1] - c[k][1] for c in curves]
    finals = [c[-1][1] for c in curves]
    out = dict(stretch=(int(curves[0][k][0]), int(curves[0][-1][0])), same_lr=same_lr,
               start=[c[k][1] for c in curves], relative=False)
    ref = reference if reference is not None and len(reference) == len(curves) \
        and all(len(r) == len(c) for r, c in zip(reference, curves)) else None
    if ref is not None:
        out.update(relative=True, own_gain=statistics.fmean(gains))
        gains = [g - (r[-1][1] - r[k][1]) for g, r in zip(gains, ref)]
        finals = [f - r[-1][1] for f, r in zip(finals, ref)]
    spread = statistics.stdev(finals) if len(finals) > 1 else 0.0
    gain = statistics.fmean(gains)
    moved = abs(gain) if ref is not None else gain
    return dict(out, still_improving=moved > max(spread, GAIN_FLOOR), gain=gain, spread=spread)


def improving_note(g: dict) -> str:
    """``still improving: epochs 6->9 gained +4.1 points, more than the seeds' spread 1.2``; a row judged
    against the conv: ``still moving against the conv: over epochs 8->10 (...) its gap to the conv moved
    +1.1 points, more than the spread of its differences 0.6``."""
    c = g["convergence"]
    lr = "at the same lr" if c.get("same_lr") else "while the lr changed"
    if c.get("relative"):
        return (f"still moving against the conv: over epochs {c['stretch'][0]}->{c['stretch'][1]} ({lr}) its gap "
                f"to the conv moved {c['gain'] * 100:+.1f} points (its own gain {c['own_gain'] * 100:+.1f}), more "
                f"than the spread of its per-seed differences {c['spread'] * 100:.1f}")
    return (f"still improving: epochs {c['stretch'][0]}->{c['stretch'][1]} ({lr}) gained {c['gain'] * 100:+.1f} "
            f"points, more than the seeds' spread {c['spread'] * 100:.1f}")


def _by(groups: Sequence[dict], name: str) -> Optional[dict]:
    return next((g for g in groups if g["name"] == name), None)


def _improving(g: dict) -> bool:
    return bool(g.get("convergence", {}).get("still_improving"))


def headline(groups: Sequence[dict]) -> Optional[dict]:
    """Best and worst mean accuracy among the rows that converged and cost within :data:`COST_GAP`
    of the standard conv's MACs; every other row is listed in ``excluded`` with the reason."""
    conv = _by(groups, "conv")
    excluded, pool = [], []
    for g in groups:
        ratio = g["macs"] / conv["macs"] if conv and conv.get("macs") and g.get("macs") else 1.0
        if _improving(g):
            excluded.append((g["name"], "still improving, see †"))
        elif not 1 / COST_GAP <= ratio <= COST_GAP:
            excluded.append((g["name"], f"{ratio:.1f}x the standard conv's MACs"))
        else:
            pool.append(g)
    if len(pool) < 2:
        return dict(best=None, worst=None, excluded=excluded)
    best = max(pool, key=lambda g: g["accuracy"]["mean"])
    worst = min(pool, key=lambda g: g["accuracy"]["mean"])
    b, w = best["accuracy"], worst["accuracy"]
    return dict(best=best["name"], worst=worst["name"], delta=b["mean"] - w["mean"], overlap=not w["hi"] < b["lo"],
                n=min(b["n"], w["n"]), excluded=excluded)


def paired_vs_conv(g: dict, conv: dict, alpha: float, key: str = "final") -> Optional[object]:
    """The per-seed differences ``g - conv`` over the seeds both rows trained (None under two), of the
    final accuracies or (``key="start"``) of those at the start of the convergence stretch."""
    def acc(x):
        return x["accuracies"] if key == "final" else (x.get("convergence") or {}).get("start")
    if acc(g) is None or acc(conv) is None:
        return None
    ref = dict(zip(conv["seeds"], acc(conv)))
    pairs = [(a, ref[s]) for s, a in zip(g["seeds"], acc(g)) if s in ref]
    if len(pairs) < 2:
        return None
    return paired_diff([a for a, _ in pairs], [b for _, b in pairs], alpha)


def decide(d, kind: str, margin: float = MARGIN) -> tuple[str, str]:
    """(verdict, the test that decided it) for a paired difference ``d`` (row - conv, with its one-sided
    bounds ``d.lo``, ``d.hi``). ``kind``: "noninferior" (at least as accurate, within ``margin``) or
    "inferior" (less accurate)."""
    m = margin * 100
    if kind not in ("noninferior", "inferior"):
        raise ValueError(f"kind must be 'noninferior' or 'inferior', got {kind!r}")
    if d.n < MIN_PAIRS:
        return WIDE, f"{d.n} seeds: no verdict under {MIN_PAIRS}"
    if kind == "noninferior":
        if d.lo > -margin:
            return HOLDS, f"lower bound {d.lo * 100:+.1f} > -{m:g}: non-inferior (p={d.p_greater(-margin):.4f})"
        if d.hi < -margin:
            return NOT_HELD, f"upper bound {d.hi * 100:+.1f} < -{m:g}: worse by more than the margin " \
                             f"(p={d.p_less(-margin):.4f})"
        return WIDE, f"the interval contains -{m:g}"
    if d.hi < 0:
        return HOLDS, f"upper bound {d.hi * 100:+.1f} < 0: less accurate (p={d.p_less(0.0):.4f})"
    if d.lo > -margin:
        return NOT_HELD, f"lower bound {d.lo * 100:+.1f} > -{m:g}: within the margin of the conv or better " \
                         f"(p={d.p_greater(-margin):.4f})"
    return WIDE, f"the interval contains 0 and -{m:g}"


def seeds_for(d, kind: str, verdict: str, margin: float = MARGIN, power: float = POWER) -> Optional[int]:
    """About how many seeds a claim with ``d``'s effect needs for ``verdict`` to be reached with
    probability ``power`` at ``d.alpha``: the least n >= MIN_PAIRS with
    (t_{1-alpha, n-1} + z_power) * s / sqrt(n) below the effect's distance to the verdict's threshold,
    the power of a one-sided t-test. ``s`` is the 80 % upper confidence limit of the per-seed differences'
    SD (``d.sd * sqrt((n-1) / chi2_{0.2, n-1})``): a SD from 4 seeds is itself uncertain (on the default
    job, 0.55 from seeds 0-3 where 16 runs gave 1.0), and a pilot's SD taken as it is undersizes the study
    (Browne, Stat. Med. 1995). Another CPU, like another seed draw, moves each per-seed difference by about
    that spread, so a verdict reached with fewer seeds than this is one the next machine may not share.
    ``verdict`` "not decided: the interval spans the margin" asks for the threshold the effect is
    farthest from. None when the effect sits on the threshold, or more than :data:`MOST_SEEDS` are needed."""
    # "at least as accurate" has one threshold, the margin; "less accurate" holds below 0 and does not
    # hold within the margin (decide), and an undecided one may go either way
    thresholds = [-margin] if kind == "noninferior" else {HOLDS: [0.0], NOT_HELD: [-margin]}.get(
        verdict, [0.0, -margin])
    gap = max(abs(d.mean - t) for t in thresholds)
    if gap == 0:
        return None
    scipy_stats = require("scipy.stats", "data", "confidence intervals")
    sd = d.sd * math.sqrt((d.n - 1) / float(scipy_stats.chi2.ppf(1 - SD_CONFIDENCE, d.n - 1)))
    z = float(scipy_stats.norm.ppf(power))
    for n in range(MIN_PAIRS, MOST_SEEDS + 1):
        if (float(scipy_stats.t.ppf(1 - d.alpha, n - 1)) + z) * sd / math.sqrt(n) < gap:
            return n
    return None


def _strength(d, kind: str, margin: float = MARGIN) -> float:
    """The p-value of the verdict ``d`` comes nearest to (the order of Holm's step-down): the smaller of
    the claim's two one-sided tests."""
    if d.n < MIN_PAIRS:
        return 1.0
    if kind == "noninferior":
        return min(d.p_greater(-margin), d.p_less(-margin))
    return min(d.p_less(0.0), d.p_greater(-margin))


def _power_note(have: int, verdict: str, need: Optional[int]) -> str:
    """``; close to its threshold: ...`` when a verdict decided on ``have`` seeds needs more (:func:`seeds_for`:
    one the next CPU may not share), ``; about N seeds would decide it ...`` for an undecided one."""
    if verdict not in (HOLDS, NOT_HELD, WIDE) or (need is not None and need <= have):
        return ""
    seeds = f"about {need} seeds (--seeds {need})" if need is not None else f"more than {MOST_SEEDS} seeds"
    if verdict == WIDE:
        return f"; {seeds} would decide it 9 times in 10"
    return f"; close to its threshold: a verdict that another seed draw or CPU keeps 9 times in 10 needs {seeds}"


def _acc_claim(g: dict, conv: dict, text: str, kind: str, alpha: float, rank: str,
               stopped: bool = False) -> Optional[dict]:
    """Row ``g`` vs the standard conv, paired by seed, one-sided bounds at ``alpha`` (its Holm level);
    ``stopped``: Holm's step-down ended at an earlier claim, so this one is not decided whatever it shows."""
    d = paired_vs_conv(g, conv, alpha)
    if d is None:
        return None
    evidence = (f"{g['name']} {d.mean * 100:+.1f} points vs conv, paired over {d.n} seeds, one-sided "
                f"{100 * (1 - alpha):.4g}% bounds [{d.lo * 100:+.1f}, {d.hi * 100:+.1f}] ({rank}); margin "
                f"{MARGIN * 100:g} points")
    verdict, test = decide(d, kind)
    if stopped and verdict != WIDE:
        verdict, test = STOPPED, f"{test}, but Holm stopped before this claim"
    out = dict(claim=text, evidence=f"{evidence}: {test}", verdict=verdict, diff=d.as_dict(), kind=kind)
    early = paired_vs_conv(g, conv, alpha, key="start")
    if early is not None and verdict in (HOLDS, NOT_HELD):
        # the convergence check of a claim: the same test one evaluation earlier, at the same learning rate
        # (the constant-rate tail) must reach the same verdict, or the verdict depends on where training stopped
        epoch, before = g["convergence"]["stretch"][0], decide(early, kind)[0]
        if before != verdict:
            out.update(verdict=UNDECIDED, evidence=f"{out['evidence']}; at epoch {epoch}: {early.mean * 100:+.1f} "
                                                    f"[{early.lo * 100:+.1f}, {early.hi * 100:+.1f}], {before}")
        else:
            out["evidence"] += f"; the same at epoch {epoch} ({early.mean * 100:+.1f} [{early.lo * 100:+.1f}, " \
                               f"{early.hi * 100:+.1f}])"
    need = seeds_for(d, kind, out["verdict"]) if out["verdict"] in (HOLDS, NOT_HELD, WIDE) else None
    out.update(seeds_needed=need, evidence=out["evidence"] + _power_note(d.n, out["verdict"], need))
    return out


def _acc_claims(groups, acc: Sequence[tuple]) -> list[dict]:
    """The accuracy claims ``(row name, text, kind)`` whose row and the conv ran, decided by Holm's
    step-down over ALPHA (module docstring); returned in the order given."""
    conv = _by(groups, "conv")
    if conv is None or "accuracies" not in conv:
        return []
    present = []                 # (row, text, kind, Holm order key), each row's differences taken once
    for name, text, kind in acc:
        g = _by(groups, name)
        d = paired_vs_conv(g, conv, ALPHA) if g is not None and "accuracies" in g else None
        if d is not None:
            present.append((g, text, kind, _strength(d, kind)))
    k = len(present)
    order = sorted(range(k), key=lambda i: present[i][3])
    out: dict = {}
    stopped = False
    for j, i in enumerate(order):
        g, text, kind, _ = present[i]
        alpha = ALPHA / (k - j)
        c = _acc_claim(g, conv, text, kind, alpha, f"Holm: {j + 1} of {k}, at {ALPHA:g}/{k - j}", stopped)
        out[i] = c
        # Holm stops at the first claim its level does not decide (a verdict reversed over the tail is a
        # decision of the test, so it does not stop the others)
        stopped = stopped or c["verdict"] == WIDE
    return [out[i] for i in range(k)]


def _cost_claims(groups) -> list[dict]:
    conv, dw = _by(groups, "conv"), _by(groups, "dwsep")
    if conv is None or dw is None or not conv.get("macs") or not dw.get("macs"):
        return []
    mr, pr = conv["macs"] / dw["macs"], conv["params"] / dw["params"]
    out = [dict(claim="depthwise separable costs several times fewer MACs and params than a standard conv "
                      "(MobileNetV1, arXiv:1704.04861: 8-9x per 3x3 layer)",
                evidence=f"whole net: {mr:.1f}x fewer MACs, {pr:.1f}x fewer params (stem and transition "
                         f"are standard convs in both)",
                verdict=HOLDS if mr >= 2 and pr >= 2 else NOT_HELD)]
    if conv.get("latency") and dw.get("latency"):
        speedup = conv["latency"]["median"] / dw["latency"]["median"]
        apart = dw["latency"]["q1"] > conv["latency"]["q3"] or dw["latency"]["q3"] < conv["latency"]["q1"]
        out.append(dict(claim="MACs are not latency: the MAC saving does not buy the same speed-up",
                        evidence=f"{mr:.1f}x fewer MACs, {speedup:.2f}x the speed at batch 1 on CPU "
                                 f"(IQRs {'apart' if apart else 'overlap'})",
                        verdict=HOLDS if speedup < mr / 2 else NOT_HELD))
    return out


def _fused_claim(groups, match: str) -> Optional[dict]:
    fused, mb = _by(groups, f"fused@{match}") or _by(groups, "fused"), _by(groups, "mbconv")
    if fused is None or mb is None or not fused.get("latency") or not mb.get("latency"):
        return None
    fl, ml = fused["latency"], mb["latency"]
    # MACs per ms over each latency's interquartile range: the claim needs the two ranges apart
    f_rate = [fused["macs"] / fl[q] for q in ("q3", "median", "q1")]
    m_rate = [mb["macs"] / ml[q] for q in ("q3", "median", "q1")]
    per_mac = f_rate[1] / m_rate[1]
    apart = f_rate[0] > m_rate[2] or f_rate[2] < m_rate[0]
    verdict = NOT_SIG if not apart else (HOLDS if per_mac > 1 else NOT_HELD)
    return dict(claim="Fused-MBConv runs more MACs per second than MBConv (EfficientNetV2, arXiv:2104.00298)",
                evidence=f"{fused['name']} {fl['median']:.2f} ms at {fused['macs'] / 1e6:.1f}M MACs, mbconv "
                         f"{ml['median']:.2f} ms at {mb['macs'] / 1e6:.1f}M: {per_mac:.2f}x the MACs/s "
                         f"(MACs/s over the latency IQRs {'apart' if apart else 'overlap'})", verdict=verdict)


def claims(groups: Sequence[dict], match: str = "macs") -> list[dict]:
    """The lecture's claims this run can test, each ``dict(claim, evidence, verdict)``."""
    out, key = _cost_claims(groups), {"macs": "MACs"}.get(match, match)
    margin = f"within {MARGIN * 100:g} points"
    acc = [(f"dwsep@{match}", f"at equal {key}, depthwise separable (widened) is at least as accurate as a "
                              f"standard conv ({margin})", "noninferior"),
           (f"spatial@{match}", f"at equal {key}, spatially separable 3x1+1x3 (rank-limited filters) is less "
                                f"accurate than a full 3x3", "inferior"),
           ("mbconv", f"the inverted residual (MBConv, arXiv:1801.04381) is at least as accurate as a standard "
                      f"conv at the same MACs ({margin})", "noninferior"),
           ("convnext", f"the ConvNeXt block (arXiv:2201.03545), a modernized residual block, is at least as "
                        f"accurate as a standard conv at the same MACs ({margin})", "noninferior")]
    out += _acc_claims(groups, acc)
    fused = _fused_claim(groups, match)
    return out + ([fused] if fused else [])


def claim_lines(items: Sequence[dict]) -> list[str]:
    return [f"Claim: {c['claim']}. Measured: {c['evidence']}. Verdict: {c['verdict']}." for c in items]


def headline_lines(h: Optional[dict]) -> list[str]:
    """The headline sentence(s): the matched-cost best vs worst, and why the other rows sit out."""
    if h is None:
        return []
    lines = []
    if h["best"]:
        spread = (f"95% intervals {'overlap' if h['overlap'] else 'do not overlap'} ({h['n']} seeds each)"
                  if h["n"] > 1 else "one seed: no interval, no verdict")
        lines.append(f"Headline, converged rows within {COST_GAP}x of the standard conv's MACs: best {h['best']} "
                     f"vs worst {h['worst']}, {h['delta'] * 100:+.1f} points; {spread}.")
    else:
        lines.append("Headline: fewer than two converged rows at matched cost; no ranking is claimed.")
    if h["excluded"]:
        lines.append("Not in the headline: " + "; ".join(f"{n} ({why})" for n, why in h["excluded"]) + ".")
    return lines
