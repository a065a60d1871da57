"""The variants comparison behind ``convzoo compare`` (and ``make run``).

Trains the :mod:`convzoo.models.variants` nets (same stem, depth, width and head; only the convolution
block differs) on a built-in task with one recipe and several seeds, then measures what each costs
(params, MACs, batch-1 CPU latency, training time) and buys (test accuracy, mean and 95% interval).
A second set of nets is each variant widened or narrowed until its MACs (or params) match the
standard conv's, so that "accuracy at equal cost" is a like-for-like comparison.

    plan jobs (variant x widths x seed) -> train them in ``workers`` processes (convzoo.train.fit, one
    run folder each; a job's result depends only on its own seed) -> time every net again, interleaved
    -> statistics (t-intervals, paired tests vs the standard conv) -> compare.md/.csv/.json + compare.png
"""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch

from .claims import COST_GAP
from .setup import BUDGETS, CLUTTER, DATASETS, FRESH, NOISE
from .report import plot_compare, summarize, to_csv, to_markdown
from ..io import atomic_write_text, write_json
from ..models.variants import DEFAULT_VARIANTS, VARIANTS, VariantSpec
from ..train import TrainConfig, fit
from ..train.lock import run_lock

BASE_WIDTHS = VariantSpec().widths
MIN_TAIL_EPOCHS = 6      # warmup, a high-rate phase and a tail of at least 2 epochs
MATCH_TOL = 0.10          # a variant within 10% of the target cost counts as matched already

__all__ = ["BUDGETS", "DATASETS", "CLUTTER", "NOISE", "FRESH", "default_config", "eval_every", "tail_epochs",
           "run_compare", "plan_jobs", "matched_widths", "Job", "to_markdown", "to_csv"]


def default_config(epochs: int = 10, seed: int = 0, image_size: Optional[int] = None, schedule: str = "tail",
                   **kw) -> TrainConfig:
    """The one recipe every variant gets: AdamW 3e-3 (ConvNeXt's optimizer family; weight decay 0.05),
    batch 32, one warmup epoch, deterministic kernels; ``schedule``:

    - ``"tail"`` (the default): 3e-3, then a constant-rate tail at 3e-4 over the last :func:`tail_epochs`
      epochs, evaluated one epoch into the tail and at the end (:func:`eval_every`). Both evaluations run
      at the same learning rate, so their gain measures the net, not the schedule (the convergence check,
      :func:`convzoo.compare.claims.convergence`). Under :data:`MIN_TAIL_EPOCHS` epochs (smoke runs) the
      rate stays at 3e-3 after the warmup, and the last two epochs are evaluated.
    - ``"cosine"``: the recipe up to 2026-12-06 (cosine to 0, evaluated two thirds in and at the end),
      under which a converged net two thirds in is measured at a high learning rate.

    Batch 32, not 64: at the same 5 epochs (the same images seen, about the same CPU time) twice the
    steps lifted one seed of conv 54.5 -> 63.3%, dwsep 52.8 -> 56.7%, ConvNeXt 37.5 -> 47.4% on the
    default task; a lower lr (1e-3) left ConvNeXt at 28.9%."""
    base = dict(epochs=epochs, batch_size=32, lr=3e-3, optimizer="adamw", weight_decay=0.05, warmup_epochs=1,
                image_size=image_size, seed=seed, latency_runs=2, deterministic=True)
    if schedule == "tail" and epochs < MIN_TAIL_EPOCHS:
        # too short for a high-rate phase and a tail (smoke tests): the whole run is the constant rate
        base.update(schedule="constant", eval_every=max(1, epochs - 1))
    elif schedule == "tail":
        tail = tail_epochs(epochs)
        # "step" decays x0.1 once, at the end of epoch epochs - tail (the period counts after the warmup);
        # the second decay would come after the last epoch (tail < (epochs - 1) / 2)
        base.update(schedule="step", step_decay=0.1, step_epochs=epochs - tail - 1,
                    eval_every=epochs - tail + 2 if tail >= 3 else epochs - 1)
    elif schedule == "cosine":
        base.update(schedule="cosine", eval_every=eval_every(epochs))
    else:
        raise ValueError(f"schedule must be 'tail' or 'cosine', got {schedule!r}")
    base.update(kw)
    return TrainConfig(**base)


def tail_epochs(epochs: int) -> int:
    """Epochs at the tail's constant low rate: about 40% of the run, fewer than half of it after the
    warmup (so that the step schedule decays once), at least 2."""
    if epochs < MIN_TAIL_EPOCHS:
        raise ValueError(f"a tail needs at least {MIN_TAIL_EPOCHS} epochs (warmup, high rate, 2+ at the low "
                         f"rate), got {epochs}")
    return max(2, min(round(0.4 * epochs), (epochs - 2) // 2))


@dataclass(frozen=True)
class Job:
    """One training run: ``name`` is the row it belongs to (``dwsep`` or ``dwsep@macs``)."""
    name: str
    variant: str
    widths: tuple
    seed: int


def _net(variant: str, widths, in_chans: int, num_classes: int):
    from ..registry import create_model
    return create_model(f"variant_{variant}", num_classes=num_classes, in_chans=in_chans, widths=tuple(widths))


def _cost(variant: str, widths, input_size, key: str, num_classes: int = 10) -> int:
    from ..analysis.cost import count_macs, count_params
    net = _net(variant, widths, input_size[0], num_classes)
    return count_macs(net, tuple(input_size)) if key == "macs" else count_params(net)


def matched_widths(variant: str, target: int, input_size, key: str = "macs", num_classes: int = 10,
                   step: int = 4) -> tuple:
    """Widths (w, 2w), w a multiple of ``step``, whose ``key`` ("macs" or "params") is nearest ``target``."""
    if key not in ("macs", "params"):
        raise ValueError(f"match must be 'macs' or 'params', got {key!r}")
    base = _cost(variant, BASE_WIDTHS, input_size, key, num_classes)
    # both costs grow about quadratically with width (linearly for depthwise parts): start near the root
    guess = BASE_WIDTHS[0] * (target / base) ** 0.5
    lo, hi = max(step, int(guess * 0.5) // step * step), int(guess * 2.2) // step * step + step
    best = min(((abs(_cost(variant, (w, 2 * w), input_size, key, num_classes) - target), w)
                for w in range(lo, hi + 1, step)))
    return (best[1], 2 * best[1])


def plan_jobs(variants: Sequence[str], seeds: Sequence[int], match: Optional[str], input_size,
              num_classes: int = 10, more_seeds: Optional[dict] = None) -> list[Job]:
    """Every (variant, seed) at the base widths, then every variant whose cost is more than 10% off the
    standard conv's rebuilt at matched widths (named ``variant@macs`` / ``variant@params``).

    A variant whose base widths cost more than :data:`~convzoo.compare.claims.COST_GAP` times the conv's
    (Fused-MBConv: 4.0x the MACs) is trained at matched cost only: no claim and no headline may use a row
    that much dearer, and at the base widths it took 23% of the default job's training (44 s a seed of
    190, 2026-12-07) and was the one row still gaining at the end of the tail.

    ``more_seeds``: ``{variant: n}``, n seeds (``seeds`` continued by the next integers) for the row its
    claim uses, the matched-cost one where the variant has one, else the base one (the standard conv: the
    base row every claim is paired with)."""
    base, matched = list(variants), []
    if match and "conv" in variants:
        target = _cost("conv", BASE_WIDTHS, input_size, match, num_classes)
        for v in variants:
            own = _cost(v, BASE_WIDTHS, input_size, match, num_classes)
            if v != "conv" and abs(own - target) > MATCH_TOL * target:
                matched.append((v, matched_widths(v, target, input_size, match, num_classes)))
                if own > COST_GAP * target:
                    base.remove(v)
    rebuilt = {v for v, _ in matched}
    own_seeds = {v: list(seeds) if v in rebuilt else _seeds(seeds, more_seeds, v) for v in base}
    return [Job(v, v, BASE_WIDTHS, s) for v in base for s in own_seeds[v]] + \
        [Job(f"{v}@{match}", v, w, s) for v, w in matched for s in _seeds(seeds, more_seeds, v)]


def _seeds(seeds: Sequence[int], more_seeds: Optional[dict], variant: str) -> list[int]:
    """``seeds``, continued by the next integers up to ``more_seeds[variant]`` seeds in all."""
    out = list(seeds)
    n = (more_seeds or {}).get(variant, 0)
    while len(out) < n:
        out.append(max(out) + 1)
    return out


def matched_only(variants: Sequence[str], jobs: Sequence[Job], input_size, num_classes: int = 10) -> dict:
    """The variants :func:`plan_jobs` trains at matched cost only: ``{variant: {widths, params, macs}}`` of
    their base widths (what the table's note says they would have cost)."""
    trained = {j.name for j in jobs}
    return {v: dict(widths=list(BASE_WIDTHS), params=_cost(v, BASE_WIDTHS, input_size, "params", num_classes),
                    macs=_cost(v, BASE_WIDTHS, input_size, "macs", num_classes))
            for v in variants if v not in trained}


_DATA: dict = {}


def _datasets(spec: dict):
    """Train/test sets of ``spec`` (name, sizes), built once per process."""
    from ..data import get_dataset
    key = repr(sorted(spec.items()))
    if key not in _DATA:
        kw = {} if spec["name"] == "digits" else dict(seed=spec.get("data_seed", 0), **spec["options"])
        tr_kw = dict(kw, **({"size": spec["train_size"]} if spec.get("train_size") else {}))
        te_kw = dict(kw, **({"size": spec["test_size"]} if spec.get("test_size") else {}))
        _DATA[key] = (get_dataset(spec["name"], "train", **tr_kw), get_dataset(spec["name"], "test", **te_kw))
    return _DATA[key]


def train_job(job: Job, cfg: dict, data: dict, out_dir: str, threads: int) -> dict:
    """Train one job (also in a worker process) and return its row; deterministic in (job, cfg, data)."""
    torch.set_num_threads(threads)
    train_set, test_set = _datasets(data)
    cfg = TrainConfig.from_dict({**cfg, "seed": job.seed})
    torch.manual_seed(job.seed)                       # the init stream: a function of the seed only
    model = _net(job.variant, job.widths, train_set.input_size[0], train_set.num_classes)
    # channels-last weights make every activation after the stem channels-last: depthwise and 1x7/7x7
    # backward passes run 1.2-2x faster on CPU (ConvNeXt's 7x7 twice), the same numbers on every run
    model = model.to(memory_format=torch.channels_last)
    t0 = time.process_time()
    rep = fit(model, train_set, test_set, cfg, out_dir=out_dir, progress=False, epoch_lines=False,
              run_info={"model": f"variant_{job.variant}", "model_kwargs": {"widths": list(job.widths)},
                        # the task's options, so that eval / deploy / predict of this run rebuild its data
                        "dataset": data["name"], "data_kwargs": dict(data["options"])},
              dataset_name=data["name"])
    return dict(name=job.name, variant=job.variant, widths=list(job.widths), seed=job.seed,
                accuracy=rep["accuracy"], params=rep["params"], macs=rep["macs"],
                train_time_s=rep["train_time_s"], cpu_time_s=round(time.process_time() - t0, 3),
                run_dir=str(out_dir), **_curves(Path(out_dir) / "metrics.jsonl"))


def _curves(metrics: Path) -> dict:
    """``curve``: ``[[epoch, test accuracy, lr], ...]`` of the epochs the run evaluated (lr: the rate of the
    epoch's last step); ``train_curve``: ``[[epoch, training accuracy], ...]`` of every epoch (the plot's
    learning curves: evaluating every epoch would cost more than the training of the cheap rows)."""
    import json
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    return dict(curve=[[r["epoch"], r["test_accuracy"], r.get("lr")] for r in rows if "test_accuracy" in r],
                train_curve=[[r["epoch"], r["train_accuracy"]] for r in rows if "train_accuracy" in r])


def eval_every(epochs: int) -> int:
    """The cosine recipe's evaluations: about two thirds in and at the end."""
    return max(1, epochs - max(1, round(epochs / 3)))


def _run_jobs(jobs: list[Job], cfg: dict, data: dict, out: Path, workers: int, threads: int,
              progress: bool) -> list[dict]:
    dirs = [str(out / "runs" / j.name.replace("@", "-at-") / f"seed{j.seed}") for j in jobs]
    t0 = time.perf_counter()

    def report(k, row):
        if progress:
            print(f"[{k}/{len(jobs)}] {row['name']} seed {row['seed']}: test acc {row['accuracy'] * 100:.2f}% "
                  f"({row['train_time_s']:.0f} s; {time.perf_counter() - t0:.0f} s so far)", file=sys.stderr)
    if workers <= 1:
        rows = []
        for j, d in zip(jobs, dirs):
            rows.append(train_job(j, cfg, data, d, threads))
            report(len(rows), rows[-1])
        return rows
    import multiprocessing as mp
    # spawn: a fresh interpreter per worker (no forked OpenMP state); longest jobs first keeps both busy
    order = sorted(range(len(jobs)), key=lambda i: -_work(jobs[i]))
    rows: list = [None] * len(jobs)
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futs = {pool.submit(train_job, jobs[i], cfg, data, dirs[i], threads): i for i in order}
        from concurrent.futures import as_completed
        for k, f in enumerate(as_completed(futs), 1):
            rows[futs[f]] = f.result()
            report(k, rows[futs[f]])
    return rows


def _work(job: Job) -> float:
    """Rough relative CPU cost of a job (expanded blocks and 7x7 depthwise train several times slower)."""
    scale = {"mbconv": 3.5, "fused": 3.5, "convnext": 3.0, "dwsep": 1.0, "spatial": 1.0, "conv": 1.0}
    return scale.get(job.variant, 1.0) * (job.widths[0] / BASE_WIDTHS[0]) ** 1.5


@torch.no_grad()
def measure_latency(rows: list[dict], input_size, num_classes: int, threads: int, rounds: int = 6,
                    runs: int = 60) -> dict:
    """Batch-1 forward times (ms) of each row's first-seed net, interleaved so load hits all alike:
    ``{name: {"median", "q1", "q3"}}`` over all timed calls."""
    import statistics

    from safetensors.torch import load_file

    from ..analysis.timing import interleaved_times
    torch.set_num_threads(threads)
    first = {}
    for r in rows:
        first.setdefault(r["name"], r)
    x = torch.randn(1, *input_size)
    fns = {}
    for name, r in first.items():
        net = _net(r["variant"], r["widths"], input_size[0], num_classes)
        path = Path(r["run_dir"]) / "model.safetensors"
        if path.is_file():
            net.load_state_dict(load_file(str(path)))
        net.eval()
        fns[name] = (lambda m=net: m(x))
    times = interleaved_times(fns, warmup=3, runs=rounds * runs, rounds=rounds, settle_s=0.0)
    out = {}
    for name, per_round in times.items():
        q = statistics.quantiles([t * 1e3 for rr in per_round for t in rr], n=4)
        out[name] = dict(median=q[1], q1=q[0], q3=q[2])
    return out


def run_compare(out_dir, *, variants: Sequence[str] = DEFAULT_VARIANTS, cfg: Optional[TrainConfig] = None,
                seeds: Sequence[int] = (0, 1, 2), match: Optional[str] = "macs", dataset: str = "cluttered_digits",
                train_size: Optional[int] = None, test_size: Optional[int] = None,
                data_options: Optional[dict] = None, workers: int = 1, threads: int = 1,
                progress: bool = True, budget: Optional[str] = None, more_seeds: Optional[dict] = None) -> dict:
    """Train every (variant, seed), measure, write the table and plot to ``out_dir``; return the result
    (``groups``: one summary per row of the table, ``runs``: one row per training run, ``meta``).
    ``data_options`` go to the dataset (cluttered_digits: ``clutter``, ``noise``, ``fresh``: new training
    images every epoch); ``budget`` names the :data:`BUDGETS` entry the settings came from (``"quick"``
    marks the report as a preview); ``more_seeds``: ``{variant: n}``, n seeds for the row of that variant's
    claim (:func:`plan_jobs`; the default budget's: :data:`BUDGETS`)."""
    if not variants:
        raise ValueError(f"variants must name at least one of {', '.join(VARIANTS)}, got none")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    if dataset not in DATASETS:
        raise ValueError(f"compare runs on {' or '.join(DATASETS)}, got {dataset!r}")
    if not seeds:
        raise ValueError("compare needs at least one seed")
    if match not in (None, "macs", "params"):
        raise ValueError(f"match must be 'macs', 'params' or None, got {match!r}")
    bad = {k: n for k, n in (more_seeds or {}).items() if k not in VARIANTS or not isinstance(n, int) or n < 1}
    if bad:
        raise ValueError(f"more_seeds maps a variant ({', '.join(VARIANTS)}) to a number of seeds >= 1, got {bad}")
    cfg = cfg or default_config()
    out = Path(out_dir)
    with run_lock(out):   # one writer per folder, as for a training run
        out.mkdir(parents=True, exist_ok=True)
        if data_options is None:
            data_options = dict(clutter=CLUTTER, noise=NOISE, fresh=FRESH) if dataset == "cluttered_digits" else {}
        data = dict(name=dataset, train_size=train_size, test_size=test_size, options=dict(data_options))
        train_set, test_set = _datasets(data)
        size = train_set.input_size if cfg.image_size is None else (1, cfg.image_size, cfg.image_size)
        jobs = plan_jobs(variants, seeds, match, size, train_set.num_classes, more_seeds)
        t0 = time.perf_counter()
        runs = _run_jobs(jobs, cfg.to_dict(), data, out, workers, threads, progress)
        wall = time.perf_counter() - t0
        lat = measure_latency(runs, size, train_set.num_classes, threads)
        meta = dict(dataset=dataset, data_options=data["options"], train_samples=len(train_set),
                    test_samples=len(test_set), input_size=list(size),
                    seeds=list(seeds), more_seeds=dict(more_seeds or {}), match=match, budget=budget,
                    matched_only=matched_only(variants, jobs, size, train_set.num_classes), threads=threads,
                    workers=workers,
                    config=cfg.to_dict(),
                    torch=torch.__version__, train_wall_s=round(wall, 1),
                    cpu_count=os.cpu_count(), load_avg=list(os.getloadavg()))
        result = summarize(runs, lat, meta)
        write_json(out / "compare.json", result)
        atomic_write_text(out / "compare.csv", to_csv(result))
        atomic_write_text(out / "compare.md", to_markdown(result) + "\n")
        plot_compare(result, out / "compare.png")
        return result
