"""What a run draws: ``curves.png`` from its metrics log."""
from __future__ import annotations

from pathlib import Path

from ..io import atomic_write


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
