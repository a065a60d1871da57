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

Storage: ``OUT/study.db`` (SQLite, embedded) or ``storage=`` any SQLAlchemy URL Optuna takes
(PostgreSQL for several machines). N workers started with the same settings share one study:
``trials`` is the study's total (:mod:`convzoo.scaling.workers`), each trial is trained once, a
killed worker's trial is re-queued, the reference cost (T) is measured once per study and kept in
its ``user_attrs`` (:mod:`convzoo.scaling.storage`), and the outputs are read back from the storage
(:mod:`.summary`).

Run folder: ``study.db`` (unless ``storage``), ``search.json`` (settings and targets, as stored in the
study), ``trials.csv``, ``pareto.{json,md,png}``, ``best_spec.json`` (``create_model("searched",
spec=...)``).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..analysis.cost import count_macs, measure_latency_ms, measure_train_step_ms
from ..io import write_json
from ..models.searched import build_from_spec
from ..scaling.budget import Budget, deadline, parse_budget
from .reward import constraint_exponents, efficientnetv2_reward, mnasnet_reward
from .sampler import SAMPLERS, number_seeded
from .space import SHAPES_SPACE, SearchSpace
from ..scaling.storage import check_storage, default_url, once_per_study, open_storage, optuna_module
from .summary import pareto_front, summarize
from ..scaling.workers import drive, median_trial_seconds, over_cap

STUDY_NAME = "convzoo-search"
COSTS = ("macs", "latency")
MODES = ("mnasnet", "v2")
OBJECTIVES = ("reward", "pareto")


def _choice(name: str, value: str, options: tuple) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}, got {value!r}")


def reference_targets(space: SearchSpace, num_classes: int, latency_runs: int = 10,
                      step_time: bool = True) -> dict[str, float]:
    """T for each cost: the cost of the scaling study's base net at the search resolution."""
    import torch

    from ..scaling.law import SHAPES_RESOLUTION, Multipliers, scaled_spec
    spec = scaled_spec(Multipliers(resolution=space.resolution / SHAPES_RESOLUTION), num_classes)
    torch.manual_seed(0)
    model = build_from_spec(spec)
    r = spec["resolution"]
    return dict(macs=float(count_macs(model, (3, r, r))),
                latency=measure_latency_ms(model, (3, r, r), runs=latency_runs, warmup=2),
                step_ms=measure_train_step_ms(model, (3, r, r)) if step_time else None,
                params=float(sum(p.numel() for p in model.parameters())))


@dataclass
class _Trials:
    """What one trial needs: the settings, the data, the targets; ``__call__`` is the objective."""

    settings: dict
    space: SearchSpace
    budget: Budget
    targets: dict
    total: int
    latency_runs: int
    progress: bool
    data: tuple = ()
    trained: list = field(default_factory=list)      # trial numbers this process trained

    def measure(self, trial, params: dict) -> dict:
        import torch

        from ..train import TrainConfig, fit
        s, res = self.settings, self.space.resolution
        torch.manual_seed(s["seed"])          # the net's initial weights: a function of the seed only
        model = build_from_spec(self.space.spec(params, self.data[0].num_classes))
        attrs = dict(macs=count_macs(model, (3, res, res)), params=sum(p.numel() for p in model.parameters()),
                     latency_ms=measure_latency_ms(model, (3, res, res), runs=self.latency_runs, warmup=2))
        if s["mode"] == "v2":
            attrs["step_ms"] = measure_train_step_ms(model, (3, res, res), batch_size=self.budget.batch_size)
        cfg = TrainConfig(epochs=s["epochs"], batch_size=self.budget.batch_size, lr=s["lr"],
                          optimizer="adamw", warmup_epochs=0.5, seed=s["seed"], latency_runs=2, device="cpu")
        self.trained.append(trial.number)
        report = fit(model, self.data[0], self.data[1], cfg, out_dir=None, progress=self.progress,
                     dataset_name="shapes")
        attrs.update(accuracy=report["accuracy"], train_time_s=report.get("train_time_s"))
        return attrs

    def __call__(self, trial):
        optuna = optuna_module()
        t0 = time.monotonic()
        if over_cap(trial.study, trial.number, self.total):
            raise optuna.TrialPruned(f"{self.total} trials are already done or running")
        params = self.space.suggest(trial)
        done = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        same = next((t for t in done if t.params == params), None)
        if same is not None:             # the sampler proposed a net already trained: reuse it
            attrs = {k: v for k, v in same.user_attrs.items() if k != "trial_s"}
            attrs["duplicate_of"] = same.number
        else:
            attrs = self.measure(trial, params)
        s, T = self.settings, self.targets[self.settings["cost"]]
        c = attrs["macs"] if s["cost"] == "macs" else attrs["latency_ms"]
        if s["mode"] == "mnasnet":
            alpha, beta = constraint_exponents(s["constraint"])
            attrs["reward"] = mnasnet_reward(attrs["accuracy"], c, T, alpha, beta)
        else:
            attrs["reward"] = efficientnetv2_reward(attrs["accuracy"], attrs["step_ms"], attrs["params"],
                                                    self.targets["step_ms"], self.targets["params"])
        attrs["trial_s"] = time.monotonic() - t0
        for k, v in attrs.items():
            trial.set_user_attr(k, v)
        return attrs["reward"] if s["objective"] == "reward" else (attrs["accuracy"], c)


def _settings(budget: Budget, space: SearchSpace, *, cost, mode, constraint, objective, target, epochs,
              lr, seed, sampler, dataset_kwargs) -> dict:
    _choice("cost", cost, COSTS)
    _choice("mode", mode, MODES)
    _choice("objective", objective, OBJECTIVES)
    _choice("sampler", sampler, SAMPLERS)
    constraint_exponents(constraint)
    if target is not None and not target > 0:
        raise ValueError(f"target must be > 0, got {target!r}")
    return dict(kind="convzoo.search", cost=cost, mode=mode, constraint=constraint,
                objective=objective, target=target, train_size=budget.train_size,
                test_size=budget.test_size, epochs=epochs or budget.search_epochs or budget.epochs,
                lr=lr, seed=seed, sampler=sampler, resolution=space.resolution,
                dataset_kwargs=dataset_kwargs or {})


def _open_study(url: str, settings: dict, n_trials: int, heartbeat_s: int, grace_s: Optional[int]):
    optuna = optuna_module()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(url, heartbeat_s, grace_s)
    directions = ["maximize"] if settings["objective"] == "reward" else ["maximize", "minimize"]
    sampler = number_seeded(settings["sampler"], settings["seed"], max(3, min(10, n_trials // 3)))
    study = optuna.create_study(study_name=STUDY_NAME, storage=storage, load_if_exists=True,
                                directions=directions, sampler=sampler)
    if [d.name.lower() for d in study.directions] != directions:
        raise ValueError(f"the study in {url} was made for another objective; use another --out/--storage")
    stored = once_per_study(study, "convzoo_settings", lambda: settings)
    diff = sorted(k for k in settings if stored.get(k) != settings[k])
    if diff:
        raise ValueError(f"the study holds a search with different settings ({', '.join(diff)}); "
                         "use another --out/--storage or the same settings to resume")
    return study


def run_search(out: str | Path, budget: str | Budget = "small", *, cost: str = "macs",
               mode: str = "mnasnet", constraint: str = "soft", target: Optional[float] = None,
               objective: str = "reward", space: SearchSpace = SHAPES_SPACE, trials: Optional[int] = None,
               epochs: Optional[int] = None, lr: float = 3e-3, seed: int = 0, progress: bool = True,
               dataset_kwargs: Optional[dict] = None, latency_runs: int = 5, sampler: str = "tpe",
               storage: Optional[str] = None, heartbeat_s: int = 10, grace_s: Optional[int] = None,
               poll_s: float = 1.0, on_trial_end: Optional[Callable[[int], None]] = None,
               log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict[str, Any]:
    """Run (or resume, or join) a search; returns the summary written to ``out/search_result.json``.

    ``storage`` is an SQLAlchemy URL shared by several workers (default: the SQLite file
    ``out/study.db``); ``trials`` is the study's total over all of them. ``heartbeat_s``/``grace_s``:
    a trial whose worker has not beaten for ``grace_s`` (default 3 heartbeats) is re-queued.
    ``on_trial_end(n_complete)`` is called after each finished trial (tests use it to crash a search).
    The budget is work: ``trials`` trials of ``epochs`` epochs, however long they take; only under an
    opt-in time limit (``budget.limit_minutes``) may it stop early, with ``stopped="time"``.
    """
    t0 = time.monotonic()
    budget = parse_budget(budget)
    n_trials = trials if trials is not None else budget.trials
    settings = _settings(budget, space, cost=cost, mode=mode, constraint=constraint, objective=objective,
                         target=target, epochs=epochs, lr=lr, seed=seed, sampler=sampler,
                         dataset_kwargs=dataset_kwargs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    url = storage or default_url(out)
    check_storage(url)                     # a bad URL or database fails here, before any work
    study = _open_study(url, settings, n_trials, heartbeat_s, grace_s)
    targets = dict(once_per_study(study, "convzoo_targets", lambda: reference_targets(
        space, _num_classes(), latency_runs=10, step_time=mode == "v2")))
    if target is not None:
        targets["macs" if cost == "macs" else "latency"] = float(target)
    meta = dict(settings, targets=targets)
    write_json(out / "search.json", meta)
    trial_fn = _Trials(settings, space, budget, targets, n_trials, latency_runs, progress,
                       data=_datasets(budget, space, dataset_kwargs))
    status = _optimize(study, trial_fn, n_trials, deadline(budget, t0), progress, poll_s,
                       on_trial_end, log)
    result = summarize(out, study, meta, targets[cost], space, _num_classes())
    result.update(stopped=status, requested=n_trials, time_limit=budget.limit_minutes)
    write_json(out / "search_result.json", result)
    if result.get("best"):
        log(f"{result['trials']} trials; best reward {result['best']['reward']:.4f} (trial "
            f"{result['best']['trial']}); wrote {out / 'best_spec.json'}")
    else:
        log("no finished trial yet")
    return result


def _num_classes() -> int:
    from ..data.shapes import ShapesDataset
    return ShapesDataset.num_classes


def _datasets(budget: Budget, space: SearchSpace, kwargs: Optional[dict]) -> tuple:
    from ..data.shapes import ShapesDataset
    return (ShapesDataset("train", space.resolution, size=budget.train_size, **(kwargs or {})),
            ShapesDataset("test", space.resolution, size=budget.test_size, **(kwargs or {})))


def _optimize(study, trial_fn: _Trials, n_trials: int, deadline: float, progress: bool, poll_s: float,
              on_trial_end, log) -> str:
    from tqdm.auto import tqdm
    optuna = optuna_module()
    S = optuna.trial.TrialState

    def n_complete() -> int:
        return len(study.get_trials(deepcopy=False, states=(S.COMPLETE,)))
    bar = tqdm(total=n_trials, initial=min(n_trials, n_complete()), desc="search", unit="trial",
               disable=not progress, file=sys.stderr)

    def callback(study_, trial):
        if trial.state == S.COMPLETE:
            bar.n = min(n_trials, n_complete())
            bar.refresh()
            a = trial.user_attrs
            log(f"trial {trial.number}: acc {a['accuracy']:.3f}  MACs {a['macs'] / 1e6:.2f}M  "
                f"latency {a['latency_ms']:.2f} ms  reward {a['reward']:.4f}")
        if on_trial_end is not None:
            on_trial_end(n_complete())
    try:
        return drive(study, trial_fn, n_trials, deadline=deadline, callbacks=[callback], poll_s=poll_s,
                     trial_seconds=lambda: median_trial_seconds(study))
    finally:
        bar.close()


__all__ = ["run_search", "pareto_front", "reference_targets", "STUDY_NAME"]
