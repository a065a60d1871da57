"""What a run reports: the final report dict, ``model.safetensors``, ``report.json`` and
``curves.png`` drawn from its metrics log."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Optional

from torch import nn

from . import distributed as D
from ..analysis.cost import count_macs, count_params, measure_latency_ms
from ..io import read_jsonl, write_json
from .._extras import MissingExtraError


def _macs_or_none(model: nn.Module, input_size) -> Optional[int]:
    try:
        return count_macs(model, input_size)
    except Exception:  # a profiler gap must not sink a finished training run
        return None


def build_report(run, run_info: dict, t_start: float) -> dict[str, Any]:
    """The report of a finished run (rank 0): test metrics of the last evaluation, cost, timing."""
    from .augment import eval_image_size
    from .batches import evaluate, sample_input_size
    cfg, model = run.cfg, run.eval_model
    eval_size = eval_image_size(cfg)
    if run.test_set is not None and not run.last_eval:
        run.last_eval = evaluate(model, run.test_set, batch_size=256, image_size=eval_size, device=run.device,
                                 amp=cfg.amp)
    in_size = sample_input_size(run.train_set, eval_size)
    rows = read_jsonl(run.out / "metrics.jsonl") if run.out is not None else []
    best = run.best
    report = {
        **{k: v for k, v in run_info.items() if k in ("model", "dataset")},
        "accuracy": run.last_eval.get("accuracy"),
        "loss": run.last_eval.get("loss"),
        "best_accuracy": max([r.get("test_accuracy", 0.0) for r in rows] + [best]) if rows or best else None,
        "params": count_params(model),
        "macs": _macs_or_none(model, in_size),
        "latency_ms": measure_latency_ms(model, in_size, runs=cfg.latency_runs, device=run.device),
        "latency_device": run.device.type,
        "input_size": list(in_size),
        "epochs": cfg.epochs,
        "steps": run.step,
        "train_time_s": round(run.epoch_time, 3),
        "wall_time_s": round(time.perf_counter() - t_start, 3),
        "ema": cfg.ema_decay is not None,
        "world_size": run.dist.world_size,
        "rank_max_param_diff": run.rank_diff,   # max |w_rank_i - w_rank_j| over all weights: 0 = in sync
        "test_samples": run.last_eval.get("samples"),
        **{k: run.last_eval[k] for k in ("miou", "iou") if k in run.last_eval},   # segmentation
    }
    if run.resumed:
        report["resumed"] = True
    return report


def write_outputs(run, report: dict, run_info: dict, dataset_name: str) -> None:
    """``model.safetensors`` (the evaluated weights), ``report.json``, ``curves.png``."""
    from ..weights import save_weights
    out = run.out
    save_weights(run.eval_model, out / "model.safetensors",
                 {"model": str(run_info.get("model", type(run.net).__name__)), "epochs": str(run.cfg.epochs)})
    write_json(out / "report.json", report)
    try:
        plot_curves(read_jsonl(out / "metrics.jsonl"), out / "curves.png",
                    title=f"{run_info.get('model', '')} on {run_info.get('dataset', dataset_name)}")
    except MissingExtraError as e:   # the run is complete without its picture
        print(f"convzoo: curves.png not drawn: {e}", file=sys.stderr)


def final_step(run, run_info: dict, dataset_name: str, t_start: float) -> dict[str, Any]:
    """Report (and, with a run folder, its files) on rank 0; every rank joins the spread check."""
    run.rank_diff = D.max_param_spread(run.net) if run.dist.enabled else 0.0
    report: dict[str, Any] = {}
    if run.dist.is_main:
        report = build_report(run, run_info, t_start)
        if run.out is not None:
            write_outputs(run, report, run_info, dataset_name)
    D.barrier()
    return report


def plot_curves(rows: list[dict], path: Path, title: str = "") -> None:
    """Loss and accuracy per epoch (train and test) to ``path``, drawn and saved as every convzoo picture
    (:mod:`convzoo.plotting`: the page's width, labels at its text size, byte-stable)."""
    from .. import plotting as P                  # matplotlib only when a plot is drawn
    if not rows:
        return
    ep = [r["epoch"] for r in rows]
    path = Path(path)
    with P.page_style():
        fig = P.new_figure(P.PAGE_WIDTH_IN, 3.4)
        a1, a2 = fig.subplots(1, 2)
        for ax, key in ((a1, "loss"), (a2, "accuracy")):
            ax.plot(ep, [r[f"train_{key}"] for r in rows], label="train")
            if any(f"test_{key}" in r for r in rows):
                ax.plot([r["epoch"] for r in rows if f"test_{key}" in r],
                        [r[f"test_{key}"] for r in rows if f"test_{key}" in r], label="test")
            ax.set(xlabel="epoch", ylabel=key)
            ax.legend()
        if title:
            fig.suptitle(title)
        P.save_figure(fig, path.parent, path.stem, formats=("png",))
