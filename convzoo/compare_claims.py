"""What ``convzoo compare`` may claim: which rows converged, which pairs the headline may set side by
side, and a verdict on each of the lecture's claims from the numbers this run measured.

    groups (per-row statistics and learning curves, from compare_report.summarize)
      -> convergence: the last evaluated stretch's gain vs the seeds' spread (still improving or not)
      -> headline: best vs worst among converged rows at matched cost (never across a cost gap)
      -> claims: (claim, evidence, verdict) with verdict "holds" / "does not hold at this budget" /
         "not significant" / "not decided: still improving"

A table of accuracies after a short budget ranks speed of convergence as much as the blocks; these
decisions keep a still-improving row or a 4x-the-MACs row out of any sentence that reads as a lesson.
"""
from __future__ import annotations

import statistics
from typing import Optional, Sequence

GAIN_FLOOR = 0.005     # a last-stretch gain under half a point counts as flat, whatever the spread
COST_GAP = 1.25        # the headline sets side by side rows whose MACs are within 1.25x of the conv's
HOLDS, NOT_HELD, NOT_SIG, UNDECIDED = ("holds", "does not hold at this budget", "not significant",
                                       "not decided: still improving")


def convergence(curves: Sequence[Sequence[Sequence[float]]]) -> dict:
    """One row's learning curves, per seed ``[(epoch, test accuracy), ...]`` (at least the last two
    evaluations): ``still_improving`` when the mean gain over the last evaluated stretch exceeds both
    the seeds' spread (sample SD of the final accuracies) and :data:`GAIN_FLOOR`.

    ``still_improving`` is None when a curve has fewer than two evaluations (nothing to compare).
    """
    if not curves or any(len(c) < 2 for c in curves):
        return dict(still_improving=None, gain=None, spread=None, stretch=None)
    gains = [c[-1][1] - c[-2][1] for c in curves]
    finals = [c[-1][1] for c in curves]
    spread = statistics.stdev(finals) if len(finals) > 1 else 0.0
    gain = statistics.fmean(gains)
    return dict(still_improving=gain > max(spread, GAIN_FLOOR), gain=gain, spread=spread,
                stretch=(int(curves[0][-2][0]), int(curves[0][-1][0])))


def improving_note(g: dict) -> str:
    """``still improving: epochs 6->9 gained +4.1 points, more than the seeds' spread 1.2``."""
    c = g["convergence"]
    return (f"still improving: epochs {c['stretch'][0]}->{c['stretch'][1]} gained {c['gain'] * 100:+.1f} "
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


def _acc_claim(groups, name: str, text: str, better_holds: bool = True) -> Optional[dict]:
    """``name`` vs the standard conv, from the Welch + Holm test of the table. ``better_holds``: the
    claim is that ``name`` is at least as accurate (else: that it is less accurate)."""
    g, conv = _by(groups, name), _by(groups, "conv")
    if g is None or conv is None or "p_holm" not in g:
        return None
    d, p = g["delta_vs_conv"], g["p_holm"]
    evidence = f"{name} {d * 100:+.1f} points vs conv (Holm p={p:.3f}, {len(g['seeds'])} seeds)"
    late = [x["name"] for x in (g, conv) if _improving(x)]
    if late:
        return dict(claim=text, evidence=evidence + f"; {', '.join(late)} still improving", verdict=UNDECIDED)
    if not g["significant"]:
        verdict = NOT_SIG
    else:
        verdict = HOLDS if (d > 0) == better_holds else NOT_HELD
    return dict(claim=text, evidence=evidence, verdict=verdict)


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
    acc = [(f"dwsep@{match}", f"at equal {key}, depthwise separable (widened) is at least as accurate as a "
                              f"standard conv", True),
           (f"spatial@{match}", f"at equal {key}, spatially separable 3x1+1x3 (rank-limited filters) is less "
                                f"accurate than a full 3x3", False),
           ("mbconv", "the inverted residual (MBConv, arXiv:1801.04381) is at least as accurate as a standard "
                      "conv at the same MACs", True),
           ("convnext", "the ConvNeXt block (arXiv:2201.03545), a modernized residual block, is at least as "
                        "accurate as a standard conv at the same MACs", True)]
    out += [c for c in (_acc_claim(groups, n, t, b) for n, t, b in acc) if c]
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
