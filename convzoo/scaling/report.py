"""Tables and the plot of a scaling study: results.json / .csv / .md, grid.md, scaling.png."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ..train.checkpoint import atomic_write_text
from ..io import write_json

COLUMNS = ("key", "curve", "phi", "depth_mult", "width_mult", "resolution_mult", "resolution", "layers",
           "params", "macs", "predicted_macs_ratio", "accuracy", "latency_ms", "train_time_s")
CURVE_STYLE = {"depth": ("tab:blue", "o"), "width": ("tab:orange", "s"),
               "resolution": ("tab:green", "^"), "compound": ("tab:red", "D")}


def markdown_table(rows: list[dict], base_macs: float | None) -> str:
    head = ("| run | d | w | r (px) | layers | params | MACs (M) | MACs / base | law 2^phi-ish "
            "| top-1 (%) | latency (ms) |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        ratio = f"{r['macs'] / base_macs:.2f}x" if base_macs else "-"
        lines.append(f"| {r['key']} | {r['depth_mult']:.2f} | {r['width_mult']:.2f} | {r['resolution']} "
                     f"| {r['layers']} | {r['params'] / 1e3:.0f}K | {r['macs'] / 1e6:.2f} | {ratio} "
                     f"| {r['predicted_macs_ratio']:.2f}x | {100 * r['accuracy']:.1f} "
                     f"| {r['latency_ms']:.2f} |")
    return "\n".join(lines) + "\n"


def grid_table(rows: list[dict], preferred: dict | None) -> str:
    lines = ["| alpha (depth) | beta (width) | gamma (resolution) | alpha*beta^2*gamma^2 | MACs (M) "
             "| top-1 (%) |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r["phi"] != 1.0 or r["curve"] == "base":
            continue
        a, b, g = (r["alpha"], r["beta"], r["gamma"]) if r["alpha"] is not None else (
            r["depth_mult"], r["width_mult"], r["resolution_mult"])
        mark = " **(best)**" if preferred and preferred["key"] == r["key"] else ""
        lines.append(f"| {a:.2f} | {b:.2f} | {g:.2f} | {a * b * b * g * g:.2f} | {r['macs'] / 1e6:.2f} "
                     f"| {100 * r['accuracy']:.1f}{mark} |")
    return "\n".join(lines) + "\n"


def _sparse_tick(v: float, _=None) -> str:
    """A log axis's minor tick written only at 2, 3 and 5 times a power of ten (labels at the page's size
    do not fit at every one)."""
    import math

    return f"{v:g}" if v > 0 and round(v / 10 ** math.floor(math.log10(v)), 6) in (2, 3, 5) else ""


def plot(rows: list[dict], path: Path, title: str = "") -> Path:
    """Accuracy vs MACs and vs latency, one curve per scaling dimension (EfficientNet Fig. 3 style), drawn
    for the docs page and saved as :mod:`convzoo.plotting` saves every picture (``path``: its PNG)."""
    from .. import plotting as P                  # matplotlib only when a plot is drawn
    from matplotlib.ticker import FuncFormatter

    base = [r for r in rows if r["curve"] == "base"]
    path = Path(path)
    with P.page_style():
        fig = P.new_figure(P.PAGE_WIDTH_IN, 7.6)
        axes = fig.subplots(2, 1)
        for ax, x_key, x_label, scale in ((axes[0], "macs", "MACs (M, log)", 1e6),
                                          (axes[1], "latency_ms", "latency, batch 1, this CPU (ms, log)", 1)):
            for curve, (color, marker) in CURVE_STYLE.items():
                pts = sorted(base + [r for r in rows if r["curve"] == curve], key=lambda r: r["phi"])
                ax.plot([r[x_key] / scale for r in pts], [100 * r["accuracy"] for r in pts], marker=marker,
                        color=color, label=curve)
                for r in pts[1:]:
                    ax.annotate(f"phi={r['phi']:g}", (r[x_key] / scale, 100 * r["accuracy"]),
                                textcoords="offset points", xytext=(6, 5), color=color)
            ax.set_xscale("log")
            ax.margins(x=0.1)                                # room for the names at the ends
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))   # 3, not 3x10^0
            ax.xaxis.set_minor_formatter(FuncFormatter(_sparse_tick))
            ax.set_xlabel(x_label)
            ax.set_ylabel("top-1 accuracy (%)")
            ax.grid(alpha=0.3, which="both")
        axes[0].legend(loc="upper left")
        fig.suptitle(title or "Scaling the base net (EfficientNet Fig. 3 analogue)")
        P.place_labels(fig)
        return P.save_figure(fig, path.parent, path.stem, formats=("png",))[0]


def write_reports(out: Path, results: dict[str, Any]) -> None:
    rows = results["runs"]
    write_json(out / "results.json", results)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out / "results.csv", buf.getvalue())
    base = next((r for r in rows if r["curve"] == "base"), None)
    text = markdown_table(rows, base["macs"] if base else None)
    if results.get("skipped"):
        limit = results.get("time_limit")
        why = f"the time limit of {limit:g} min cut them" if limit is not None else "time limit reached"
        text += (f"\nNot run ({why}): {', '.join(results['skipped'])}; rerun the same command to "
                 f"continue.\n")
    atomic_write_text(out / "results.md", text)
    pref = results.get("preferred")
    tied = bool(pref and pref.get("tied"))      # a tie prefers nothing: no row is marked best
    grid = grid_table(rows, None if tied else pref)
    if tied:
        grid += (f"\nNo preference: every phi = 1 run reached the same top-1 ({100 * pref['accuracy']:.1f} %); "
                 "train longer (a larger --budget) to separate them.\n")
    elif pref:
        grid += (f"\nThis data prefers alpha={pref['alpha']:g}, beta={pref['beta']:g}, "
                 f"gamma={pref['gamma']:g} (top-1 {100 * pref['accuracy']:.1f} %); the paper's grid "
                 f"search on ImageNet gave alpha=1.2, beta=1.1, gamma=1.15.\n")
    atomic_write_text(out / "grid.md", grid)
    if rows:
        plot(rows, out / "scaling.png")
