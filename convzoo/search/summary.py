"""The search's outputs, read from the study storage so every worker writes and prints the same.

``trials.csv`` (one row per COMPLETE trial, by trial number), ``pareto.{json,md,png}`` (the trials no
other beats in both accuracy and cost), ``best_spec.json`` (the best reward: ``create_model("searched",
spec=...)``) and ``search_result.json`` (settings, targets, best, front).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..io import atomic_write_text, write_json
from ..models.searched import save_spec
from .space import SearchSpace


def pareto_front(points: list[dict], acc_key: str = "accuracy", cost_key: str = "cost") -> list[dict]:
    """The points no other point beats in both accuracy (higher) and cost (lower), by cost."""
    front = []
    for p in points:
        dominated = any(q[acc_key] >= p[acc_key] and q[cost_key] <= p[cost_key]
                        and (q[acc_key] > p[acc_key] or q[cost_key] < p[cost_key]) for q in points)
        if not dominated:
            front.append(p)
    return sorted(front, key=lambda p: (p[cost_key], p.get("trial", 0)))


def summarize(out: Path, study, meta: dict, target: float, space: SearchSpace,
              num_classes: int) -> dict[str, Any]:
    """Write trials.csv, pareto.{json,md,png}, best_spec.json and search_result.json from ``study``."""
    from ..scaling.storage import optuna_module
    optuna = optuna_module()
    cost = meta["cost"]
    rows = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        a = t.user_attrs
        rows.append(dict(trial=t.number, accuracy=a["accuracy"], macs=a["macs"], params=a["params"],
                         latency_ms=a["latency_ms"], step_ms=a.get("step_ms"), reward=a["reward"],
                         cost=a["macs"] if cost == "macs" else a["latency_ms"], choices=t.params))
    result: dict[str, Any] = dict(meta, cost_target=target, trials=len(rows))
    if not rows:
        write_json(out / "search_result.json", result)
        return result
    front = pareto_front(rows)
    best = max(rows, key=lambda r: (r["reward"], -r["trial"]))
    spec = space.spec(best["choices"], num_classes, trial=best["trial"], macs=best["macs"],
                      params=best["params"], accuracy=best["accuracy"], latency_ms=best["latency_ms"],
                      reward=best["reward"], cost=cost, target=target)
    save_spec(spec, out / "best_spec.json")
    strip = [{k: v for k, v in r.items() if k != "choices"} for r in rows]
    result.update(best={k: v for k, v in best.items() if k != "choices"},
                  pareto=[{k: v for k, v in r.items() if k != "choices"} for r in front])
    write_json(out / "search_result.json", result)
    write_json(out / "pareto.json", result["pareto"])
    _write_csv(out / "trials.csv", strip)
    _write_pareto_md(out / "pareto.md", front, best, cost)
    _plot(out / "pareto.png", strip, front, best, cost, target)
    return result


def _write_csv(path: Path, rows: list[dict]) -> None:
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _write_pareto_md(path: Path, front: list[dict], best: dict, cost: str) -> None:
    lines = ["| trial | top-1 (%) | MACs (M) | params (K) | latency (ms) | reward |",
             "|---|---|---|---|---|---|"]
    for r in front:
        mark = " **(best reward)**" if r["trial"] == best["trial"] else ""
        lines.append(f"| {r['trial']}{mark} | {100 * r['accuracy']:.1f} | {r['macs'] / 1e6:.2f} "
                     f"| {r['params'] / 1e3:.0f} | {r['latency_ms']:.2f} | {r['reward']:.4f} |")
    if best["trial"] not in {r["trial"] for r in front}:
        lines.append(f"\nBest reward: trial {best['trial']} (not on the accuracy-{cost} front).")
    atomic_write_text(path, "\n".join(lines) + "\n")


def _plot(path: Path, rows: list[dict], front: list[dict], best: dict, cost: str, target: float) -> None:
    """pareto.png: every trial, the front, the best reward and T, drawn for the docs page and saved as
    :mod:`convzoo.plotting` saves every picture."""
    from .. import plotting as P                  # matplotlib only when a plot is drawn

    scale, label = (1e6, "MACs (M)") if cost == "macs" else (1.0, "latency, batch 1, this CPU (ms)")
    with P.page_style():
        fig = P.new_figure(P.PAGE_WIDTH_IN, 4.6)
        ax = fig.subplots()
        ax.scatter([r["cost"] / scale for r in rows], [100 * r["accuracy"] for r in rows], s=20,
                   color="0.6", label="trials")
        ax.plot([r["cost"] / scale for r in front], [100 * r["accuracy"] for r in front], "o-",
                color="tab:red", label="Pareto front")
        ax.scatter([best["cost"] / scale], [100 * best["accuracy"]], marker="*", s=200, color="tab:blue",
                   zorder=5, label=f"best reward (trial {best['trial']})")
        ax.axvline(target / scale, color="0.4", ls="--", lw=1, label="target T")
        ax.set_xlabel(label)
        ax.set_ylabel("top-1 accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        P.save_figure(fig, path.parent, path.stem, formats=("png",))
