"""What a model costs on this machine: MACs of one forward, measured latency, training step time.

MACs come from :func:`convzoo.analysis.profile` (multiply-adds of convs and matmuls, the papers'
convention). Latency and step time are *measured* (median of several runs after a warm-up, with
:mod:`.timing`), which is what MnasNet's reward uses (arXiv:1807.11626, Sec. 3) and why they differ
from MACs: depthwise convs are cheap in MACs but not in time.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from .profile import profile
from .timing import median_ms


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_size: Sequence[int]) -> int:
    """Multiply-adds of one batch-1 forward pass at ``input_size`` (C, *S)."""
    return int(profile(model, tuple(input_size)).macs)


def _device_of(model: nn.Module, device: Optional[torch.device]) -> torch.device:
    if device is not None:
        return device
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _sync(device: torch.device):
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None


@torch.no_grad()
def measure_latency_ms(model: nn.Module, input_size: Sequence[int], runs: int = 30, warmup: int = 5,
                       device: Optional[torch.device] = None) -> float:
    """Median wall time of a batch-1 forward pass in eval mode, in milliseconds (CPU unless
    ``device`` is CUDA, where it synchronises). The model's train/eval mode is restored."""
    device = _device_of(model, device)
    was_training = model.training
    model.eval()
    x = torch.randn(1, *input_size, device=device)
    try:
        return median_ms(lambda: model(x), warmup=warmup, runs=runs, sync=_sync(device))
    finally:
        model.train(was_training)


def measure_train_step_ms(model: nn.Module, input_size: Sequence[int], batch_size: int = 32,
                          runs: int = 3, num_classes: Optional[int] = None) -> float:
    """Median time of one SGD training step (forward, backward, update) in ms, EfficientNetV2's S.

    Runs with a zero learning rate and restores the weights and buffers (BN statistics), so the
    model is left as it was.
    """
    state = {k: v.clone() for k, v in model.state_dict().items()}
    was_training = model.training
    device = _device_of(model, None)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    x = torch.randn(batch_size, *input_size, device=device)
    n_cls = int(num_classes or getattr(model, "num_classes", None) or 10)
    y = torch.randint(0, n_cls, (batch_size,), device=device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    try:
        return median_ms(step, warmup=1, runs=runs, sync=_sync(device))
    finally:
        model.load_state_dict(state)
        model.train(was_training)


__all__ = ["count_params", "count_macs", "measure_latency_ms", "measure_train_step_ms"]
