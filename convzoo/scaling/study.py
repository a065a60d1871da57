"""``convzoo scale``: train the base net grown in depth, width, resolution and all three at once.

The small-scale analogue of EfficientNet Fig. 3 / Table 3 (arXiv:1905.11946): for each phi, one net
per curve, all spending about ``2**phi`` times the base MACs; plus the Sec. 4.2 grid search for
(alpha, beta, gamma) at phi = 1 under ``alpha * beta**2 * gamma**2 ~= 2``.

Run folder (``--out DIR``)::

    DIR/study.json                 what was asked (budget, data); a resumed study must match it
    DIR/runs/<key>/spec.json       the variant's net (``create_model("searched", spec=...)``)
    DIR/runs/<key>/train/          convzoo.train's run folder (checkpoints, metrics, report)
    DIR/runs/<key>/result.json     written last: the run is finished; a rerun skips it
    DIR/results.json, results.csv, results.md, grid.md, scaling.png
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..models.searched import build_from_spec, save_spec
from ..train.checkpoint import last_checkpoint
from ..analysis.cost import count_macs
from ..io import write_json
from .budget import Budget, deadline, parse_budget
from .law import PAPER_COEFFS, Multipliers, coefficient_grid, compound, scaled_spec, single

CURVES = ("depth", "width", "resolution", "compound")


@dataclass(frozen=True)
class Variant:
    key: str               # run folder name, e.g. "compound-phi1"
    curve: str             # "base", one of CURVES, or "grid"
    phi: float
    mult: Multipliers
    coeffs: Optional[tuple[float, float, float]] = None   # (alpha, beta, gamma) of compound/grid


def plan(budget: Budget) -> list[Variant]:
    """The runs of a study, most informative first (so a time limit cuts the least useful ones)."""
    runs = [Variant("base", "base", 0.0, Multipliers())]
    for phi in budget.phis:
        tag = f"phi{phi:g}"
        runs.append(Variant(f"compound-{tag}", "compound", phi, compound(phi), PAPER_COEFFS))
        for dim in ("depth", "width", "resolution"):
            runs.append(Variant(f"{dim}-{tag}", dim, phi, single(dim, phi)))
    # the phi = 1 grid: the three single-dimension corners and the paper's point are runs above
    done = {PAPER_COEFFS}
    extra = [c for c in coefficient_grid(tol=0.1) if c not in done and max(c) < 1.9
             and sorted(c).count(1.0) < 2]             # corners are covered by the single curves
    # spread the chosen points over the grid: every k-th of the list sorted by alpha
    extra.sort()
    k = max(1, len(extra) // max(1, budget.grid_points))
    for a, b, g in extra[::k][:budget.grid_points]:
        runs.append(Variant(f"grid-a{a:g}-b{b:g}-g{g:g}", "grid", 1.0, compound(1.0, a, b, g), (a, b, g)))
    return runs


def _row(v: Variant, spec: dict, report: dict[str, Any], macs: int) -> dict[str, Any]:
    a, b, g = v.coeffs or (None, None, None)
    return dict(key=v.key, curve=v.curve, phi=v.phi, depth_mult=round(v.mult.depth, 4),
                width_mult=round(v.mult.width, 4), resolution_mult=round(v.mult.resolution, 4),
                alpha=a, beta=b, gamma=g, resolution=spec["resolution"],
                layers=sum(s["num_layers"] for s in spec["stages"]),
                channels=[s["out_channels"] for s in spec["stages"]], params=report["params"],
                macs=macs, predicted_macs_ratio=round(v.mult.predicted_macs_ratio, 4),
                accuracy=report["accuracy"], latency_ms=round(report["latency_ms"], 3),
                train_time_s=report.get("train_time_s"), wall_time_s=report.get("wall_time_s"))


def run_study(out: str | Path, budget: str | Budget = "small", *, dataset_kwargs: Optional[dict] = None,
              progress: bool = True, lr: float = 3e-3, seed: int = 0, latency_runs: int = 10,
              keep_train_folders: bool = True, storage: Optional[str] = None, heartbeat_s: int = 10,
              grace_s: Optional[int] = None, poll_s: float = 1.0,
              log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict[str, Any]:
    """Run (or resume) a scaling study in ``out``; returns the results dict also written there.

    ``keep_train_folders=False`` trains without per-run checkpoints (faster; an interrupted run then
    restarts from scratch instead of from its last epoch). ``storage`` (an SQLAlchemy URL, see
    :mod:`convzoo.scaling.storage`) spreads the runs over every worker started with it, one run per
    trial (:mod:`.shared`). The budget is work: every planned run is trained, however long it takes;
    only under an opt-in time limit (``budget.limit_minutes``) does no run start that the time measured
    so far says would not fit, and ``skipped`` lists the runs it cut (``time_limit`` says which limit).
    """
    from .report import write_reports

    t0 = time.monotonic()
    budget = parse_budget(budget)
    out = Path(out)
    meta = dict(kind="convzoo.scale", budget=budget.name, train_size=budget.train_size,
                test_size=budget.test_size, epochs=budget.epochs, phis=list(budget.phis),
                grid_points=budget.grid_points, lr=lr, seed=seed, dataset="shapes",
                dataset_kwargs=dataset_kwargs or {})
    runner = Runner(out, budget, dataset_kwargs, progress, lr, seed, latency_runs, keep_train_folders, log)
    if storage is not None:
        from .shared import run_shared
        rows, skipped = run_shared(storage, meta, plan(budget), runner, deadline(budget, t0),
                                   heartbeat_s=heartbeat_s, grace_s=grace_s, poll_s=poll_s)
    else:
        _check_or_write_meta(out / "study.json", meta)
        rows, skipped = _run_local(plan(budget), runner, deadline(budget, t0), progress)
    results = dict(meta, runs=rows, skipped=skipped, time_limit=budget.limit_minutes,
                   preferred=preferred_coefficients(rows))
    write_reports(out, results)
    return results


def _run_local(variants: list[Variant], runner: "Runner", until: float, progress: bool):
    from tqdm.auto import tqdm
    rows, skipped = [], []
    bar = tqdm(variants, desc="scale", unit="run", disable=not progress, file=sys.stderr)
    for v in bar:
        done = runner.out / "runs" / v.key / "result.json"
        if done.is_file():                      # finished before: resume skips it
            rows.append(json.loads(done.read_text()))
            continue
        if not runner.fits(v, until):
            skipped.append(v.key)
            continue
        bar.set_postfix_str(v.key)
        row = runner.train(v)
        write_json(done, row)
        rows.append(row)
    bar.close()
    return rows, skipped


@dataclass
class Runner:
    """Trains one variant; remembers the time per MAC so far to say whether the next one fits."""

    out: Path
    budget: Budget
    dataset_kwargs: Optional[dict]
    progress: bool
    lr: float
    seed: int
    latency_runs: int
    keep_train_folders: bool
    log: Callable[[str], None]
    datasets: dict = field(default_factory=dict)
    seconds_per_mac: list = field(default_factory=list)

    def spec(self, v: Variant) -> dict:
        from ..data.shapes import ShapesDataset
        return scaled_spec(v.mult, ShapesDataset.num_classes, curve=v.curve, phi=v.phi)

    def fits(self, v: Variant, until: float) -> bool:
        """Whether ``v`` is expected to end before ``until`` (its MACs x the time per MAC so far);
        always, without a time limit (``until`` = inf)."""
        now = time.monotonic()
        if now >= until:
            return False
        if not self.seconds_per_mac or until == float("inf"):
            return True
        spec = self.spec(v)
        macs = count_macs(build_from_spec(spec), (3, spec["resolution"], spec["resolution"]))
        per = sorted(self.seconds_per_mac)[len(self.seconds_per_mac) // 2]
        return now + per * macs <= until

    def train(self, v: Variant) -> dict[str, Any]:
        import torch

        from ..data.shapes import ShapesDataset
        from ..train import TrainConfig, fit
        t0 = time.monotonic()
        run_dir = self.out / "runs" / v.key
        spec = self.spec(v)
        save_spec(spec, run_dir / "spec.json")
        res = spec["resolution"]
        if res not in self.datasets:
            kw, b = dict(self.dataset_kwargs or {}), self.budget
            self.datasets[res] = (ShapesDataset("train", res, size=b.train_size, **kw),
                                  ShapesDataset("test", res, size=b.test_size, **kw))
        train_set, test_set = self.datasets[res]
        torch.manual_seed(self.seed)    # initial weights: a function of the seed, not of what ran before
        model = build_from_spec(spec)
        cfg = TrainConfig(epochs=self.budget.epochs, batch_size=self.budget.batch_size, lr=self.lr,
                          optimizer="adamw", warmup_epochs=0.5, seed=self.seed,
                          latency_runs=self.latency_runs, device="cpu")
        train_dir = run_dir / "train" if self.keep_train_folders else None
        resume = train_dir is not None and last_checkpoint(train_dir) is not None
        report = fit(model, train_set, test_set, cfg, out_dir=train_dir, progress=self.progress,
                     resume=resume, run_info=dict(model="searched", dataset="shapes",
                                                  spec=str(run_dir / "spec.json")),
                     dataset_name="shapes")
        row = _row(v, spec, report, count_macs(model, (3, res, res)))
        self.seconds_per_mac.append((time.monotonic() - t0) / max(1, row["macs"]))
        self.log(f"{v.key}: acc {row['accuracy']:.3f}  MACs {row['macs'] / 1e6:.2f}M  "
                 f"latency {row['latency_ms']:.2f} ms")
        return row


def preferred_coefficients(rows: list[dict]) -> Optional[dict[str, Any]]:
    """The (alpha, beta, gamma) at phi = 1 with the best accuracy (ties: fewer MACs); ``tied`` says
    every candidate reached the same accuracy (e.g. all at chance after a few steps), so the data
    prefers none of them."""
    cands = []
    for r in rows:
        if r["phi"] != 1.0 or r["curve"] == "base":
            continue
        # a single-dimension run at phi = 1 is the grid corner (2,1,1) / (1,sqrt2,1) / (1,1,sqrt2)
        coeffs = (r["alpha"], r["beta"], r["gamma"]) if r["alpha"] is not None else (
            round(r["depth_mult"], 3), round(r["width_mult"], 3), round(r["resolution_mult"], 3))
        cands.append((r["accuracy"], -r["macs"], coeffs, r["key"]))
    if not cands:
        return None
    acc, neg_macs, (a, b, g), key = max(cands)
    return dict(alpha=a, beta=b, gamma=g, accuracy=acc, macs=-neg_macs, key=key,
                product=round(a * b * b * g * g, 3), tied=len({c[0] for c in cands}) == 1)


def _check_or_write_meta(path: Path, meta: dict) -> None:
    if path.is_file():
        old = json.loads(path.read_text())
        diff = sorted(k for k in meta if old.get(k) != meta[k])
        if diff:
            raise ValueError(f"{path.parent} holds a study with different settings ({', '.join(diff)}); "
                             "use another --out or the same settings to resume")
        return
    write_json(path, meta)


__all__ = ["run_study", "plan", "Variant", "Runner", "CURVES", "preferred_coefficients"]
