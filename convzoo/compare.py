"""The variants comparison behind ``convzoo compare`` (and ``make run``).

Trains the six :mod:`convzoo.models.variants` nets (same stem, depth, width and head; only the
convolution block differs) on scikit-learn's handwritten digits with one recipe and one seed, then
measures what each costs (params, MACs, batch-1 CPU latency, training time) and buys (test accuracy).

    train each variant (convzoo.train.fit, one run folder each) -> time them all again, interleaved
    -> table (stdout, compare.md, compare.csv, compare.json) + compare.png (accuracy vs MACs / latency)
"""
from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Optional, Sequence

import torch

from .models.variants import VARIANTS
from .train import TrainConfig, fit
from .train.lock import run_lock
from .train.checkpoint import atomic_write, atomic_write_text
from .io import write_json

LABELS = {"conv": "standard conv 3x3", "spatial": "spatially separable 3x1+1x3",
          "dwsep": "depthwise separable", "mbconv": "inverted residual (MBConv)",
          "fused": "Fused-MBConv", "convnext": "ConvNeXt block"}
COLUMNS = ("variant", "block", "accuracy", "params", "macs", "latency_ms", "train_time_s")


def default_config(epochs: int = 5, seed: int = 0, image_size: int = 16, **kw) -> TrainConfig:
    """The one recipe every variant gets: AdamW 3e-3, cosine with 1 warmup epoch, batch 64."""
    base = dict(epochs=epochs, batch_size=64, lr=3e-3, optimizer="adamw", weight_decay=0.05, warmup_epochs=1,
                image_size=image_size, seed=seed, latency_runs=20)
    base.update(kw)
    return TrainConfig(**base)


@torch.no_grad()
def interleaved_latency_ms(models: dict, input_size: Sequence[int], rounds: int = 5, runs: int = 20) -> dict:
    """Median batch-1 forward time (ms) per model, ``runs`` calls per model in each of ``rounds``
    interleaved rounds, so that background load affects every model alike (CPU, current thread
    setting)."""
    from .analysis.timing import interleaved_medians
    x = torch.randn(1, *input_size)
    for m in models.values():
        m.eval()
    fns = {k: (lambda m=m: m(x)) for k, m in models.items()}
    med = interleaved_medians(fns, warmup=3, runs=rounds * runs, rounds=rounds, settle_s=0.0)
    return {k: v * 1e3 for k, v in med.items()}


def run_compare(out_dir, *, variants: Sequence[str] = VARIANTS, cfg: Optional[TrainConfig] = None,
                progress: bool = True, threads: Optional[int] = 1) -> list[dict]:
    """Train and measure each variant; write the table and plot to ``out_dir``; return the rows."""
    if not variants:
        raise ValueError(f"variants must name at least one of {', '.join(VARIANTS)}, got none")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    cfg = cfg or default_config()
    if threads:
        torch.set_num_threads(threads)
    out = Path(out_dir)
    with run_lock(out):   # one writer per folder, as for a training run
        return _run_compare(out, variants, cfg, progress)


def _run_compare(out: Path, variants: Sequence[str], cfg: TrainConfig, progress: bool) -> list[dict]:
    from .data import get_dataset
    from .registry import create_model
    train_set, test_set = get_dataset("digits", "train"), get_dataset("digits", "test")
    rows, models = [], {}
    for i, v in enumerate(variants):
        if progress:
            print(f"[{i + 1}/{len(variants)}] {v}: {LABELS[v]}", file=sys.stderr)
        torch.manual_seed(cfg.seed)                       # same init stream for every variant
        model = create_model(f"variant_{v}", num_classes=10, in_chans=1)
        rep = fit(model, train_set, test_set, cfg, out_dir=out / v, progress=progress,
                  run_info={"model": f"variant_{v}", "model_kwargs": {}, "dataset": "digits"},
                  dataset_name="digits")
        models[v] = model.cpu()
        rows.append({"variant": v, "block": LABELS[v], "accuracy": rep["accuracy"], "params": rep["params"],
                     "macs": rep["macs"], "latency_ms": None, "train_time_s": rep["train_time_s"]})
    size = (1, cfg.image_size or 8, cfg.image_size or 8)
    lat = interleaved_latency_ms(models, size)
    for r in rows:
        r["latency_ms"] = lat[r["variant"]]
    meta = {"dataset": "digits (scikit-learn, 1437 train / 360 test)", "input_size": list(size),
            "threads": torch.get_num_threads(), "config": cfg.to_dict(), "torch": torch.__version__}
    write_json(out / "compare.json", {"rows": rows, **meta})
    atomic_write_text(out / "compare.csv", to_csv(rows))
    atomic_write_text(out / "compare.md", to_markdown(rows, meta) + "\n")
    plot_compare(rows, out / "compare.png")
    return rows


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    for r in rows:
        w.writerow({k: r[k] for k in COLUMNS})
    return buf.getvalue()


def to_markdown(rows: list[dict], meta: Optional[dict] = None) -> str:
    lines = ["| variant | block | test acc | params | MACs | latency (ms) | train time (s) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        macs = f"{r['macs'] / 1e6:.2f}M" if r["macs"] is not None else "n/a"
        lines.append(f"| {r['variant']} | {r['block']} | {r['accuracy'] * 100:.2f}% | {r['params']:,} | {macs} | "
                     f"{r['latency_ms']:.3f} | {r['train_time_s']:.1f} |")
    if meta:
        lines.append("")
        lines.append(f"Input {tuple(meta['input_size'])}, batch-1 latency on CPU with {meta['threads']} "
                     f"thread(s), median of interleaved rounds; MACs = multiply-adds of one forward pass.")
    return "\n".join(lines)


def plot_compare(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((axes[0], "macs", "MACs (millions)"), (axes[1], "latency_ms", "CPU latency, batch 1 (ms)")):
        for r in rows:
            xv = r[key] / 1e6 if key == "macs" else r[key]
            if xv is None:
                continue
            ax.scatter(xv, r["accuracy"] * 100)
            ax.annotate(r["variant"], (xv, r["accuracy"] * 100), textcoords="offset points", xytext=(4, 4),
                        fontsize=8)
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    fig.suptitle("Convolution variants on digits: accuracy vs cost")
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
