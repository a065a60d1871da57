"""The costs a scaling study or a search weighs accuracy against: MACs, latency, training step time.

MACs come from :func:`convzoo.analysis.profile` (multiply-adds of convs and matmuls, the papers'
convention). Latency and step time are *measured on this machine* (median of several runs after a
warm-up), which is what MnasNet's reward uses (arXiv:1807.11626, Sec. 3) and why it differs from MACs:
depthwise convs are cheap in MACs but not in time.
"""
from __future__ import annotations

import statistics
import time

import torch
from torch import nn


def count_macs(model: nn.Module, resolution: int, in_chans: int = 3) -> int:
    """MACs of one (1, in_chans, R, R) forward pass."""
    from ..analysis import profile
    return int(profile(model, (in_chans, resolution, resolution)).macs)


def measure_latency(model: nn.Module, resolution: int, runs: int = 10, in_chans: int = 3) -> float:
    """Median batch-1 eval forward time in ms (after 2 warm-up passes), on an R x R input."""
    from ..train.report import measure_latency_ms
    return measure_latency_ms(model, (in_chans, resolution, resolution), runs=runs, warmup=2)


def measure_train_step(model: nn.Module, resolution: int, batch_size: int = 32, runs: int = 3,
                       in_chans: int = 3, num_classes: int | None = None) -> float:
    """Median time of one SGD training step (forward, backward, update) in ms, EfficientNetV2's S.

    Runs on a copy of the weights' state so the model is left as it was.
    """
    state = {k: v.clone() for k, v in model.state_dict().items()}
    was_training = model.training
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    x = torch.randn(batch_size, in_chans, resolution, resolution)
    n_cls = num_classes or getattr(model, "num_classes", 10)
    y = torch.randint(0, n_cls, (batch_size,))
    times = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if i >= 1:
            times.append((time.perf_counter() - t0) * 1e3)
    model.load_state_dict(state)
    model.train(was_training)
    return statistics.median(times)
