"""``convzoo search``: an Optuna study over :mod:`~convzoo.search.space`, rewarded as MnasNet does.

Each trial builds the sampled net, measures its cost (MACs by :func:`convzoo.analysis.profile`,
latency and training step time on this machine), trains it briefly with :func:`convzoo.train.fit`
on ``shapes`` and scores it:

* ``mode="mnasnet"``: ``ACC * (COST / T) ** w``, COST = MACs or latency, soft (w = -0.07) or hard
  (0 below T, -1 above) constraint (arXiv:1807.11626, Eq. 2-3);
* ``mode="v2"``: ``ACC * (S / S_T) ** -0.07 * (P / P_T) ** -0.05``, S the training step time, P the
  parameters (EfficientNetV2, arXiv:2104.00298, Sec. 4.1).

``objective="reward"`` maximises the reward (TPE); ``objective="pareto"`` lets Optuna's multi-objective
TPE push the (accuracy up, cost down) front directly. Either way the Pareto front is written.

Run folder: ``study.db`` (Optuna's SQLite storage, ``load_if_exists=True``: a killed search resumes
without repeating finished trials; several machines can share it), ``search.json`` (settings and
targets), ``trials.csv``, ``pareto.{json,md,png}``, ``best_spec.json`` (``create_model("searched",
spec=...)``).
"""
from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

from ..models.searched import build_from_spec, save_spec
from ..scaling.budget import Budget, parse_budget
from ..analysis.cost import count_macs, measure_latency_ms, measure_train_step_ms
from ..io import write_json
from .reward import constraint_exponents, efficientnetv2_reward, mnasnet_reward
from .space import SHAPES_SPACE, SearchSpace

STUDY_NAME = "convzoo-search"
COSTS = ("macs", "latency")
MODES = ("mnasnet", "v2")
OBJECTIVES = ("reward", "pareto")


def _choice(name: str, value: str, options: tuple) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}, got {value!r}")


def reference_targets(space: SearchSpace, num_classes: int) -> dict[str, float]:
    """T for each cost: the cost of the scaling study's base net at the search resolution."""
    from ..scaling.law import SHAPES_RESOLUTION, Multipliers, scaled_spec
    spec = scaled_spec(Multipliers(resolution=space.resolution / SHAPES_RESOLUTION), num_classes)
    model = build_from_spec(spec)
    r = spec["resolution"]
    return dict(macs=float(count_macs(model, (3, r, r))), latency=measure_latency_ms(model, (3, r, r), runs=10, warmup=2),
                step_ms=measure_train_step_ms(model, (3, r, r)),
                params=float(sum(p.numel() for p in model.parameters())))


def pareto_front(points: list[dict], acc_key: str = "accuracy", cost_key: str = "cost") -> list[dict]:
    """The points no other point beats in both accuracy (higher) and cost (lower), by cost."""
    front = []
    for p in points:
        dominated = any(q[acc_key] >= p[acc_key] and q[cost_key] <= p[cost_key]
                        and (q[acc_key] > p[acc_key] or q[cost_key] < p[cost_key]) for q in points)
        if not dominated:
            front.append(p)
    return sorted(front, key=lambda p: p[cost_key])


def run_search(out: str | Path, budget: str | Budget = "small", *, cost: str = "macs",
               mode: str = "mnasnet", constraint: str = "soft", target: Optional[float] = None,
               objective: str = "reward", space: SearchSpace = SHAPES_SPACE, trials: Optional[int] = None,
               epochs: Optional[int] = None, lr: float = 3e-3, seed: int = 0, progress: bool = True,
               dataset_kwargs: Optional[dict] = None, latency_runs: int = 5,
               storage: Optional[str] = None,
               on_trial_end: Optional[Callable[[int], None]] = None,
               log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict[str, Any]:
    """Run (or resume) a search in ``out``; returns the summary written to ``out/search_result.json``.

    ``storage`` is an Optuna RDB URL to share one study between machines (default: the SQLite file
    ``out/study.db``). ``on_trial_end(n_complete)`` is called after each finished trial (tests use it
    to crash a search).
    """
    import optuna
    from tqdm.auto import tqdm

    from ..data.shapes import ShapesDataset
    from ..train import TrainConfig, fit

    _choice("cost", cost, COSTS)
    _choice("mode", mode, MODES)
    _choice("objective", objective, OBJECTIVES)
    alpha, beta = constraint_exponents(constraint)
    if target is not None and not target > 0:
        raise ValueError(f"target must be > 0, got {target!r}")
    budget = parse_budget(budget)
    n_trials = trials if trials is not None else budget.trials
    n_epochs = epochs if epochs is not None else (budget.search_epochs or budget.epochs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    num_classes = ShapesDataset.num_classes

    # settings (and the measured targets) are fixed at the first start, so a resume scores alike
    meta_path = out / "search.json"
    settings = dict(kind="convzoo.search", cost=cost, mode=mode, constraint=constraint,
                    objective=objective, target=target, train_size=budget.train_size,
                    test_size=budget.test_size,
                    epochs=n_epochs, lr=lr, seed=seed, resolution=space.resolution,
                    dataset_kwargs=dataset_kwargs or {})
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        diff = sorted(k for k in settings if meta.get(k) != settings[k])
        if diff:
            raise ValueError(f"{out} holds a search with different settings ({', '.join(diff)}); "
                             "use another --out or the same settings to resume")
    else:
        targets = reference_targets(space, num_classes)
        meta = dict(settings, targets=targets)
        write_json(meta_path, meta)
    targets = dict(meta["targets"])
    if target is not None:
        targets["macs" if cost == "macs" else "latency"] = float(target)
    T = targets[cost]

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    url = storage or f"sqlite:///{(out / 'study.db').resolve()}"
    storage = optuna.storages.RDBStorage(url, heartbeat_interval=5, grace_period=10)
    directions = ["maximize"] if objective == "reward" else ["maximize", "minimize"]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:   # trials already stored: a resumed search must not replay the sampler's first draws
        n_before = len(optuna.load_study(study_name=STUDY_NAME, storage=storage).trials)
    except KeyError:
        n_before = 0
    sampler = optuna.samplers.TPESampler(seed=seed + n_before,
                                         n_startup_trials=max(3, min(10, n_trials // 3)))
    study = optuna.create_study(study_name=STUDY_NAME, storage=storage, load_if_exists=True,
                                directions=directions, sampler=sampler)
    train_set = ShapesDataset("train", space.resolution, size=budget.train_size, **(dataset_kwargs or {}))
    test_set = ShapesDataset("test", space.resolution, size=budget.test_size, **(dataset_kwargs or {}))
    res = space.resolution

    def finished():
        return [t for t in study.get_trials(deepcopy=False)
                if t.state == optuna.trial.TrialState.COMPLETE]

    def objective_fn(trial):
        params = space.suggest(trial)
        same = next((t for t in finished() if t.params == params), None)
        if same is not None:             # the sampler proposed a net already trained: reuse it
            attrs = dict(same.user_attrs, duplicate_of=same.number)
        else:
            spec = space.spec(params, num_classes)
            model = build_from_spec(spec)
            attrs = dict(macs=count_macs(model, (3, res, res)), params=sum(p.numel() for p in model.parameters()),
                         latency_ms=measure_latency_ms(model, (3, res, res), runs=latency_runs, warmup=2))
            if mode == "v2":
                attrs["step_ms"] = measure_train_step_ms(model, (3, res, res), batch_size=budget.batch_size)
            cfg = TrainConfig(epochs=n_epochs, batch_size=budget.batch_size, lr=lr, optimizer="adamw",
                              warmup_epochs=0.5, seed=seed, latency_runs=2, device="cpu")
            report = fit(model, train_set, test_set, cfg, out_dir=None, progress=progress,
                         dataset_name="shapes")
            attrs.update(accuracy=report["accuracy"], train_time_s=report.get("train_time_s"))
        c = attrs["macs"] if cost == "macs" else attrs["latency_ms"]
        if mode == "mnasnet":
            attrs["reward"] = mnasnet_reward(attrs["accuracy"], c, T, alpha, beta)
        else:
            attrs["reward"] = efficientnetv2_reward(attrs["accuracy"], attrs["step_ms"], attrs["params"],
                                                    targets["step_ms"], targets["params"])
        for k, v in attrs.items():
            trial.set_user_attr(k, v)
        return attrs["reward"] if objective == "reward" else (attrs["accuracy"], c)

    t0 = time.monotonic()
    bar = tqdm(total=n_trials, initial=min(n_trials, len(finished())), desc="search", unit="trial",
               disable=not progress, file=sys.stderr)

    def callback(study_, trial):
        bar.update(1 if trial.state == optuna.trial.TrialState.COMPLETE else 0)
        if trial.state == optuna.trial.TrialState.COMPLETE:
            a = trial.user_attrs
            log(f"trial {trial.number}: acc {a['accuracy']:.3f}  MACs {a['macs'] / 1e6:.2f}M  "
                f"latency {a['latency_ms']:.2f} ms  reward {a['reward']:.4f}")
        if on_trial_end is not None:
            on_trial_end(len(finished()))
        if (time.monotonic() - t0) / 60 > budget.minutes:
            study_.stop()

    while len(finished()) < n_trials and (time.monotonic() - t0) / 60 <= budget.minutes:
        remaining = n_trials - len(finished())
        study.optimize(objective_fn, n_trials=remaining, callbacks=[callback], catch=())
    bar.close()
    result = summarize(out, study, cost, T, space, num_classes)
    log(f"{len(finished())} trials; best reward {result['best']['reward']:.4f} (trial "
        f"{result['best']['trial']}); wrote {out / 'best_spec.json'}" if result.get("best") else
        "no finished trial yet")
    return result


def summarize(out: Path, study, cost: str, target: float, space: SearchSpace,
              num_classes: int) -> dict[str, Any]:
    """Write trials.csv, pareto.{json,md,png}, best_spec.json and search_result.json."""
    import optuna
    meta = json.loads((out / "search.json").read_text())
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
    best = max(rows, key=lambda r: r["reward"])
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

    from ..train.checkpoint import atomic_write_text
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _write_pareto_md(path: Path, front: list[dict], best: dict, cost: str) -> None:
    from ..train.checkpoint import atomic_write_text
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
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..train.checkpoint import atomic_write
    scale, label = (1e6, "MACs (M)") if cost == "macs" else (1.0, "latency, batch 1, this CPU (ms)")
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter([r["cost"] / scale for r in rows], [100 * r["accuracy"] for r in rows], s=14,
               color="0.6", label="trials")
    ax.plot([r["cost"] / scale for r in front], [100 * r["accuracy"] for r in front], "o-",
            color="tab:red", label="Pareto front")
    ax.scatter([best["cost"] / scale], [100 * best["accuracy"]], marker="*", s=160, color="tab:blue",
               zorder=5, label=f"best reward (trial {best['trial']})")
    ax.axvline(target / scale, color="0.4", ls="--", lw=1, label="target T")
    ax.set_xlabel(label)
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()

    def write(tmp: str) -> None:
        fig.savefig(tmp, dpi=90, format="png")
    atomic_write(path, write)
    plt.close(fig)
