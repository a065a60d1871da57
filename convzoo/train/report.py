"""What a run reports: params, MACs, measured latency, the metrics log and ``curves.png``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import nn

from .checkpoint import atomic_write, atomic_write_text


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_size: Sequence[int]) -> Optional[int]:
    """Multiply-adds of one forward pass at ``input_size`` (C, *S), batch 1, from
    :func:`convzoo.analysis.profile`; None if the profiler cannot handle the model."""
    try:
        from convzoo.analysis import profile
    except ImportError:
        return None
    try:
        p = profile(model, tuple(input_size))
    except Exception:  # a profiler gap must not sink a finished training run
        return None
    macs = p.get("macs") if isinstance(p, dict) else getattr(p, "macs", None)
    return int(macs) if macs is not None else None


@torch.no_grad()
def measure_latency_ms(model: nn.Module, input_size: Sequence[int], runs: int = 30, warmup: int = 5,
                       device: Optional[torch.device] = None) -> float:
    """Median wall time of a batch-1 forward pass in eval mode, in milliseconds (CPU unless
    ``device`` is CUDA, where it synchronises)."""
    from ..analysis.timing import median_ms
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    x = torch.randn(1, *input_size, device=device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None
    try:
        return median_ms(lambda: model(x), warmup=warmup, runs=runs, sync=sync)
    finally:
        model.train(was_training)


def append_jsonl(path: Path, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()


def read_jsonl(path: Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a kill
                pass
    return rows


def write_json(path: Path, obj) -> None:
    atomic_write_text(Path(path), json.dumps(obj, indent=2, sort_keys=False) + "\n")


def plot_curves(rows: list[dict], path: Path, title: str = "") -> None:
    """Loss and accuracy per epoch (train and test) to ``path`` (matplotlib, Agg backend)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if not rows:
        return
    ep = [r["epoch"] for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    a1.plot(ep, [r["train_loss"] for r in rows], label="train")
    if any("test_loss" in r for r in rows):
        a1.plot([r["epoch"] for r in rows if "test_loss" in r],
                [r["test_loss"] for r in rows if "test_loss" in r], label="test")
    a1.set_xlabel("epoch"), a1.set_ylabel("loss"), a1.legend()
    a2.plot(ep, [r["train_accuracy"] for r in rows], label="train")
    if any("test_accuracy" in r for r in rows):
        a2.plot([r["epoch"] for r in rows if "test_accuracy" in r],
                [r["test_accuracy"] for r in rows if "test_accuracy" in r], label="test")
    a2.set_xlabel("epoch"), a2.set_ylabel("accuracy"), a2.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
