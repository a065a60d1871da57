"""What ``convzoo compare`` reports: per-row statistics over seeds, the table, the lessons line, the plot.

    runs (one dict per training run) + latency per row -> summarize -> groups (mean accuracy with a
    95% t-interval, a paired t-test vs the standard conv over the seeds both trained, Holm-adjusted over
    all rows) -> markdown / CSV
    -> compare.png (accuracy vs MACs, accuracy vs latency, latency vs MACs, with error bars; the learning
       curves)
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Optional

from ..analysis.stats import holm, mean_ci
from .claims import (COST_GAP, claim_lines, claims, convergence, headline, headline_lines, improving_note,
                     paired_vs_conv)
from ..models.variants import LABELS

CSV_COLUMNS = ("name", "variant", "block", "widths", "seeds", "acc_mean", "acc_lo", "acc_hi", "delta_vs_conv",
               "p_holm", "significant", "still_improving", "last_gain", "params", "macs", "latency_ms",
               "latency_q1", "latency_q3", "train_time_s", "train_time_half")
ALPHA = 0.05
_KEY = {"macs": "MACs", "params": "params"}


def summarize(runs: list[dict], latency: dict, meta: dict) -> dict:
    """Group the runs by row name; add intervals, tests against ``conv``, the lessons, the headline
    and the claims with their verdicts (convzoo.compare.claims)."""
    names = list(dict.fromkeys(r["name"] for r in runs))
    by = {n: [r for r in runs if r["name"] == n] for n in names}
    groups = []
    conv_curves = {r["seed"]: r.get("curve") or [] for r in by.get("conv", [])}
    for n in names:
        rs, first = by[n], by[n][0]
        # each row's convergence is judged on its gap to the conv, seed by seed (claims.convergence)
        ref = [conv_curves[r["seed"]] for r in rs] if n != "conv" and all(r["seed"] in conv_curves for r in rs) \
            else None
        acc = [r["accuracy"] for r in rs]
        groups.append(dict(name=n, variant=first["variant"], block=LABELS[first["variant"]], widths=first["widths"],
                           matched=("@" in n), seeds=[r["seed"] for r in rs], accuracy=mean_ci(acc).as_dict(),
                           accuracies=acc, params=first["params"], macs=first["macs"],
                           latency=latency.get(n), train_time=mean_ci([r["train_time_s"] for r in rs]).as_dict(),
                           convergence=convergence([r.get("curve") or [] for r in rs], ref)))
    conv = _group(groups, "conv")
    if conv is not None and any(g["convergence"].get("relative") for g in groups):
        # the reference is not flagged on its own gain: its movement against any row is that row's gap
        # moving, which flags the row (its own gain stays in the JSON, as every row's does)
        c = conv["convergence"]
        c.update(reference=True, still_improving=False if c["still_improving"] is not None else None)
    for g in groups:
        d = paired_vs_conv(g, conv, ALPHA / 2) if conv is not None and g is not conv else None
        if d is not None:      # the same seeds: paired t-test of the per-seed differences, two-sided
            g["delta_vs_conv"], g["p"] = d.mean, min(1.0, 2 * min(d.p_greater(0.0), d.p_less(0.0)))
    tested = [g for g in groups if "p" in g]
    for g, p in zip(tested, holm([g["p"] for g in tested])):
        g["p_holm"], g["significant"] = p, p < ALPHA
    return dict(groups=groups, runs=runs, meta=meta, lessons=lessons(groups), headline=headline(groups),
                claims=claims(groups, meta.get("match") or "macs"))


def _group(groups: list[dict], name: str) -> Optional[dict]:
    return next((g for g in groups if g["name"] == name), None)


def lessons(groups: list[dict]) -> list[str]:
    """The lecture's two lessons as this run measured them: what the cost formulas say, what the clock says."""
    conv = _group(groups, "conv")
    same = [g for g in groups if not g["matched"] and g["name"] != "conv" and g["macs"]]
    if conv is None or not same or not conv["macs"]:
        return []
    cheap = _group(groups, "dwsep") or min(same, key=lambda g: g["macs"])
    out = [f"Cost formulas: {cheap['name']} needs {conv['macs'] / cheap['macs']:.1f}x fewer MACs and "
           f"{conv['params'] / cheap['params']:.1f}x fewer params than the standard conv"]
    if cheap.get("latency") and conv.get("latency"):
        ratio = cheap["latency"]["median"] / conv["latency"]["median"]
        out[0] += (f", yet its batch-1 CPU latency is {ratio:.2f}x the standard conv's: MACs are not latency"
                   if ratio > 0.8 else f", and its batch-1 CPU latency is {ratio:.2f}x the standard conv's")
    wide = _group(groups, f"{cheap['name']}@{_match_key(groups)}")
    if wide is not None:
        d = wide["accuracy"]["mean"] - conv["accuracy"]["mean"]
        sig = "significant" if wide.get("significant") else "not significant"
        out.append(f"At equal cost: widened to the standard conv's {_KEY[_match_key(groups)]} "
                   f"(widths {tuple(wide['widths'])}), {cheap['name']} is {d * 100:+.1f} points from it ({sig}), "
                   f"at {wide['latency']['median'] / conv['latency']['median']:.2f}x its latency")
    return out


def _match_key(groups: list[dict]) -> str:
    m = next((g["name"].split("@")[1] for g in groups if g["matched"]), "macs")
    return m


def _fmt_ci(a: dict, improving: bool = False) -> str:
    mark = " †" if improving else ""
    if a["n"] < 2:
        return f"{a['mean'] * 100:.2f}%{mark}"
    return f"{a['mean'] * 100:.2f}% [{a['lo'] * 100:.1f}, {a['hi'] * 100:.1f}]{mark}"


def _fmt_test(g: dict) -> str:
    if "p_holm" not in g:
        return "reference" if g["name"] == "conv" else "-"
    mark = " *" if g["significant"] else ""
    return f"{g['delta_vs_conv'] * 100:+.1f} (p={g['p_holm']:.3f}){mark}"


def _row(g: dict) -> str:
    lat = g["latency"]
    lat_s = f"{lat['median']:.2f} [{lat['q1']:.2f}, {lat['q3']:.2f}]" if lat else "n/a"
    macs = f"{g['macs'] / 1e6:.2f}M" if g["macs"] is not None else "n/a"
    t, acc = g["train_time"], _fmt_ci(g["accuracy"], bool(_conv(g).get("still_improving")))
    return (f"| {g['name']} | {g['block']} | {g['widths'][0]},{g['widths'][1]} | {acc} | "
            f"{_fmt_test(g)} | {g['params']:,} | {macs} | {lat_s} | {t['mean']:.1f} ± {t['half']:.1f} |")


def to_markdown(result: dict) -> str:
    """The table(s), the note on what the columns are, the still-improving rows, the headline and the
    lecture's claims with their verdicts, as lines of markdown."""
    head = ["| variant | block | widths | test acc, mean [95% CI] | vs conv, points (Holm p) | params | MACs | "
            "latency ms, median [IQR] | train time s (± 95%) |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    same = [g for g in result["groups"] if not g["matched"]]
    matched = [g for g in result["groups"] if g["matched"]]
    lines = [f"Preview (--budget quick, {len(result['meta']['seeds'])} seeds x {result['meta']['config']['epochs']} "
             f"epochs): wider intervals, fewer claims decided; --budget default decides the lecture's claims.", ""] \
        if result["meta"].get("budget") == "quick" else []
    lines += ["Same depth and widths (only the block differs):", ""] + head + [_row(g) for g in same]
    if matched:
        lines += ["", f"Widened or narrowed to the standard conv's {_KEY[_match_key(matched)]} (matched cost):", ""]
        lines += head + [_row(_group(result["groups"], "conv"))] + [_row(g) for g in matched] \
            if _group(result["groups"], "conv") else head + [_row(g) for g in matched]
    m = result["meta"]
    n = len(m["seeds"])
    opts = ", ".join(f"{k} {v}" for k, v in (m.get("data_options") or {}).items() if k != "fresh")
    name = f"{m['dataset']} ({opts})" if opts else m["dataset"]
    epochs = (m.get("config") or {}).get("epochs")
    train = (f"{m['train_samples']} new train images per epoch ({m['train_samples'] * epochs} in all, none seen twice)"
             if (m.get("data_options") or {}).get("fresh") and epochs else f"{m['train_samples']} train")
    lines += ["", f"{name}: {train} / {m['test_samples']} test images, input "
              f"{tuple(m['input_size'])}; {n} seed(s) per row ({', '.join(map(str, m['seeds']))})"
              f"{_more_seeds(result)}. "
              f"95% CI: Student t over seeds. vs conv: paired t-test over the shared seeds, Holm-adjusted over "
              f"{sum(1 for g in result['groups'] if 'p_holm' in g)} comparisons, * = p < {ALPHA}. Latency: batch 1, "
              f"CPU, {m['threads']} thread(s), interleaved rounds; MACs = multiply-adds of one forward."]
    lines += _matched_only_note(result)
    late = [g for g in result["groups"] if g.get("convergence", {}).get("still_improving")]
    if late:
        lines.append("† " + "; ".join(f"{g['name']} {improving_note(g)}" for g in late)
                     + ". Such a row's gap to the conv depends on where training stopped; no headline uses it.")
    lines += headline_lines(result.get("headline"))
    lines += claim_lines(result.get("claims", []))
    return "\n".join(lines)


def _more_seeds(result: dict) -> str:
    """``; conv, spatial@macs and convnext 12 (0-11), the claims ...`` naming the rows trained on more seeds
    than the rest (:func:`convzoo.compare.study.plan_jobs`)."""
    n = len(result["meta"]["seeds"])
    more = [g for g in result["groups"] if len(g["seeds"]) > n]
    if not more:
        return ""
    parts = []
    for k in sorted({len(g["seeds"]) for g in more}):
        rows = [g for g in more if len(g["seeds"]) == k]
        parts.append(f"{_and([g['name'] for g in rows])} {k} ({min(rows[0]['seeds'])}-{max(rows[0]['seeds'])})")
    return "; " + "; ".join(parts) + ", the claims whose bounds sit near their thresholds (docs/cli.md)"


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _matched_only_note(result: dict) -> list[str]:
    """The variants trained at matched cost only (:func:`convzoo.compare.study.plan_jobs`), with what
    their base widths would cost."""
    skipped, conv = result["meta"].get("matched_only") or {}, _group(result["groups"], "conv")
    if not skipped or conv is None or not conv.get("macs"):
        return []
    key = result["meta"].get("match") or "macs"
    return ["Trained at matched cost only: " + "; ".join(
        f"{v} at widths {','.join(map(str, c['widths']))} would cost {c['macs'] / 1e6:.2f}M MACs "
        f"({c['macs'] / conv['macs']:.1f}x the standard conv's) and {c['params']:,} params, see {v}@{key}"
        for v, c in skipped.items()) + f" (a row over {COST_GAP}x the conv's MACs enters no claim and no headline)."]


def to_csv(result: dict) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    w.writeheader()
    for g in result["groups"]:
        a, lat = g["accuracy"], g["latency"] or {}
        w.writerow(dict(name=g["name"], variant=g["variant"], block=g["block"], widths="x".join(map(str, g["widths"])),
                        seeds=len(g["seeds"]), acc_mean=a["mean"], acc_lo=a["lo"], acc_hi=a["hi"],
                        delta_vs_conv=g.get("delta_vs_conv", ""), p_holm=g.get("p_holm", ""),
                        significant=g.get("significant", ""),
                        still_improving=_conv(g).get("still_improving", ""), last_gain=_conv(g).get("gain", ""),
                        params=g["params"], macs=g["macs"],
                        latency_ms=lat.get("median", ""), latency_q1=lat.get("q1", ""),
                        latency_q3=lat.get("q3", ""), train_time_s=g["train_time"]["mean"],
                        train_time_half=g["train_time"]["half"]))
    return buf.getvalue()


def _conv(g: dict) -> dict:
    c = g.get("convergence") or {}
    return {k: ("" if v is None else v) for k, v in c.items()}


COLOURS = {"conv": "#222222", "spatial": "#1f77b4", "dwsep": "#d62728", "mbconv": "#2ca02c",
           "fused": "#9467bd", "convnext": "#ff7f0e", "uib": "#17becf", "convnextv2": "#8c564b"}


def _val(g: dict, key: str):
    """(value, minus, plus) of one axis: accuracy with its CI, MACs, latency with its IQR."""
    if key == "acc":
        a = g["accuracy"]
        return a["mean"] * 100, (a["mean"] - a["lo"]) * 100, (a["hi"] - a["mean"]) * 100
    if key == "macs":
        return g["macs"] / 1e6, 0.0, 0.0
    lat = g["latency"]
    return lat["median"], lat["median"] - lat["q1"], lat["q3"] - lat["median"]


def _panel(ax, groups, xkey: str, ykey: str) -> None:
    """One scatter with error bars and a name at each point; hollow squares for the matched-cost nets,
    an arrow from each variant to its matched version."""
    from matplotlib.ticker import ScalarFormatter
    pts = {}
    for g in groups:
        if g["macs"] is None or g["latency"] is None:
            continue
        (x, xl, xh), (y, yl, yh) = _val(g, xkey), _val(g, ykey)
        pts[g["name"]] = (x, y)
        c = COLOURS.get(g["variant"], "grey")
        ax.errorbar(x, y, xerr=[[xl], [xh]], yerr=[[yl], [yh]], fmt="s" if g["matched"] else "o", ms=7,
                    color=c, mfc="white" if g["matched"] else c, capsize=3, lw=1.2)
        ax.annotate(g["name"], (x, y), textcoords="offset points", xytext=(6, 5), color=c,
                    arrowprops=dict(arrowstyle="-", color=c, lw=0.5, shrinkA=1, shrinkB=4))
    for name, (x, y) in pts.items():
        base = name.split("@")[0]
        if "@" in name and base in pts:
            ax.annotate("", (x, y), pts[base], arrowprops=dict(arrowstyle="->", color="grey", lw=0.8))
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(ScalarFormatter())
    ax.grid(alpha=0.3, which="both")


def _ranking(ax, groups) -> None:
    """Accuracy of every row with its 95% interval, best at the top; significant differences marked."""
    order = sorted(groups, key=lambda g: g["accuracy"]["mean"])
    for i, g in enumerate(order):
        v, lo, hi = _val(g, "acc")
        c = COLOURS.get(g["variant"], "grey")
        ax.errorbar(v, i, xerr=[[lo], [hi]], fmt="s" if g["matched"] else "o", ms=7, color=c,
                    mfc="white" if g["matched"] else c, capsize=4, lw=1.5)
    ref = _group(groups, "conv")
    if ref is not None:
        ax.axvline(ref["accuracy"]["mean"] * 100, color="#222222", ls=":", lw=1)
    labels = [g["name"] + ("  *" if g.get("significant") else "")
              + (f"\n{g['macs'] / 1e6:.1f}M MACs" if g["macs"] else "") for g in order]
    ax.set_yticks(range(len(order)), labels)
    ax.set_xlabel("test accuracy (%), mean and 95% CI over seeds")
    ax.grid(alpha=0.3, axis="x")


def _mean_curve(runs: list[dict], key: str, col: int) -> tuple[list, list]:
    """Epochs every run has in ``key`` and the mean over runs of column ``col`` there (in %)."""
    per = [{int(p[0]): p[col] for p in r.get(key) or []} for r in runs]
    epochs = sorted(set.intersection(*(set(d) for d in per))) if per else []
    return epochs, [100 * sum(d[e] for d in per) / len(per) for e in epochs]


def _learning(ax, result: dict) -> None:
    """Each row's learning curves, means over its seeds: training accuracy every epoch (thin) and test
    accuracy at the evaluations (markers, thick), the constant-rate tail shaded, so a reader sees which
    rows had levelled off when the claims were decided."""
    runs, lowest = result.get("runs") or [], 100.0
    for g in result["groups"]:
        rs = [r for r in runs if r["name"] == g["name"]]
        c, ls = COLOURS.get(g["variant"], "grey"), "--" if g["matched"] else "-"
        ep, acc = _mean_curve(rs, "train_curve", 1)
        if ep:
            ax.plot(ep, acc, ls=ls, color=c, lw=0.8, alpha=0.6)
        ep, acc = _mean_curve(rs, "curve", 1)
        if ep:
            ax.plot(ep, acc, ls=ls, marker="s" if g["matched"] else "o", color=c, lw=2, ms=5,
                    mfc="white" if g["matched"] else c)
            ax.annotate(g["name"], (ep[-1], acc[-1]), textcoords="offset points", xytext=(6, 5), color=c,
                        arrowprops=dict(arrowstyle="-", color=c, lw=0.5, shrinkA=1, shrinkB=4))
            lowest = min(lowest, *acc)
    # the test accuracies and the training curves' plateau, not the first epochs (they start near chance)
    ax.set_ylim(max(0.0, lowest - 8), 101)
    stretch = next((g["convergence"].get("stretch") for g in result["groups"]
                    if (g.get("convergence") or {}).get("same_lr")), None)
    if stretch:
        ax.axvspan(stretch[0], stretch[1], color="grey", alpha=0.12, lw=0)
    ax.grid(alpha=0.3)


def plot_compare(result: dict, path: Path) -> Path:
    """compare.png: the accuracy ranking with intervals, accuracy vs MACs, accuracy vs latency, latency vs
    MACs, the learning curves; the lessons under the title. Saved as :mod:`convzoo.plotting` saves every picture."""
    from ..plotting import save_figure
    path = Path(path)
    return save_figure(compare_figure(result), path.parent, path.stem, formats=("png",))[0]


_PANELS = (("macs", "acc", "MACs per image (millions, log)", "test accuracy (%)", "accuracy vs MACs"),
           ("lat", "acc", "CPU latency, batch 1 (ms, log; bars: IQR)", "test accuracy (%)",
            "accuracy vs measured latency"),
           ("macs", "lat", "MACs per image (millions, log)", "CPU latency, batch 1 (ms)", "MACs are not latency"))


def compare_figure(result: dict):
    """The matplotlib figure of :func:`plot_compare`, drawn for the docs page (:mod:`convzoo.plotting`:
    7 in wide, labels at 11 pt, the five panels one above the other), laid out, names placed apart."""
    from matplotlib.lines import Line2D

    from ..plotting import PAGE_WIDTH_IN, new_figure, page_style, place_labels
    groups = result["groups"]
    with page_style():
        rank_h = 1.0 + 0.5 * len(groups)
        fig = new_figure(PAGE_WIDTH_IN, rank_h + 4 * 4.2 + 3.0)
        axes = fig.subplots(5, 1, height_ratios=(rank_h, 4.2, 4.2, 4.2, 4.2))
        _ranking(axes[0], groups)
        axes[0].set_title("accuracy (* = differs from conv, paired t + Holm, p < 0.05)")
        for ax, (xk, yk, xl, yl, title) in zip(axes[1:4], _PANELS):
            _panel(ax, groups, xk, yk)
            ax.set(xlabel=xl, ylabel=yl, title=title)
        _learning(axes[4], result)
        axes[4].set(xlabel="epoch", ylabel="accuracy (%), mean over seeds",
                    title="learning curves: training accuracy each epoch (thin), test accuracy where evaluated "
                          "(markers); shaded: the constant-rate tail the claims are checked over")
        handles = [Line2D([], [], marker="o", ls="", color=COLOURS[v], label=LABELS[v])
                   for v in LABELS if any(g["variant"] == v for g in groups)]
        if any(g["matched"] for g in groups):
            key = _match_key(groups)
            handles.append(Line2D([], [], marker="s", ls="", color="grey", mfc="white",
                                  label=f"widened/narrowed to conv's {_KEY[key]} (name@{key})"))
        fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
        m = result["meta"]
        counts = sorted({len(g["seeds"]) for g in groups})
        per = f"{counts[0]}-{counts[-1]}" if len(counts) > 1 else f"{len(m['seeds'])}"
        fig.suptitle("\n".join([f"Convolution blocks on {m['dataset']}: {per} seeds per net",
                                *result.get("lessons", [])]))
        place_labels(fig)
    return fig
