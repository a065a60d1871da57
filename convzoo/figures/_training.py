"""Small trained networks for the figures that show learned filters (8 and 9).

A figure either trains its net here, briefly and from a seed, on convzoo's built-in data, or loads
one from a run folder written by ``convzoo train`` (``config.json`` naming the model +
``model.safetensors``).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn


def load_figure_run(run_dir, expected_model: Optional[str] = None) -> tuple[nn.Module, dict]:
    """The trained model of a ``convzoo train`` run folder (:func:`convzoo.runs.load_run`) and its report."""
    from ..runs import load_run, read_run_config
    name = read_run_config(run_dir)["model"]      # FileNotFoundError / ValueError with a clear message
    if expected_model and name != expected_model:
        raise ValueError(f"run folder {run_dir} holds a {name!r} model; this figure needs {expected_model!r}")
    run = load_run(run_dir)
    return run.model, run.report


def train_small(model_name: str, dataset: str, *, train_limit: int, test_limit: int, epochs: int,
                batch_size: int = 32, lr: float = 3e-3, seed: int = 0, small_data: bool = False,
                model_kwargs=None) -> tuple[nn.Module, dict]:
    """Train ``model_name`` on ``dataset`` (a registered built-in) for a short, seeded run.

    The dataset is built at its default size (so the cache that ``convzoo train`` fills is reused)
    and the run uses its first ``train_limit`` / ``test_limit`` items; ``small_data=True`` builds
    only that many items instead (quick on a fresh machine, for smoke tests).
    """
    import convzoo
    from ..data.registry import get_dataset
    from ..train import TrainConfig, fit

    sizes = ({"train": train_limit, "test": test_limit} if small_data else {"train": None, "test": None})
    train_set, test_set = (get_dataset(dataset, split, **({"size": n} if n else {}))
                           for split, n in sizes.items())
    torch.manual_seed(seed)
    model = convzoo.create_model(model_name, **(model_kwargs or {}))
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, warmup_epochs=0, seed=seed,
                      device="cpu", latency_runs=1, weight_decay=0.01, limit_train=train_limit,
                      limit_test=test_limit)
    report = fit(model, train_set, test_set, cfg, out_dir=None, progress=False, dataset_name=dataset)
    return model.eval(), report


def example_split(dataset: str, n: int, small_data: bool):
    """The test split the figure draws an example from (same sizing rule as :func:`train_small`)."""
    from ..data.registry import get_dataset

    return get_dataset(dataset, "test", **({"size": n} if small_data else {}))
