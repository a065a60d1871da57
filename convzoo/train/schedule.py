"""Learning-rate schedules as a pure function of the optimizer step, so resuming needs only the step.

- ``cosine``: linear warmup from 0, then half a cosine down to ``min_lr`` (Loshchilov & Hutter, SGDR,
  arXiv:1608.03983; the warmup of Goyal et al., arXiv:1706.02677).
- ``step``: the EfficientNet recipe: warmup, then x``step_decay`` (0.97) every ``step_epochs`` (2.4)
  epochs (Tan & Le 2019, arXiv:1905.11946, Sec. 5.2).
- ``constant``: warmup, then flat.
"""
from __future__ import annotations

import math


def lr_at(step: int, *, base_lr: float, total_steps: int, steps_per_epoch: int, schedule: str = "cosine",
          warmup_epochs: float = 0.0, min_lr: float = 0.0, step_decay: float = 0.97,
          step_epochs: float = 2.4) -> float:
    """The learning rate for optimizer step ``step`` (0-based)."""
    warmup = int(round(warmup_epochs * steps_per_epoch))
    if warmup > 0 and step < warmup:
        return base_lr * (step + 1) / warmup
    if schedule == "constant":
        return base_lr
    if schedule == "step":
        return base_lr * step_decay ** math.floor((step - warmup) / (step_epochs * steps_per_epoch))
    if schedule == "cosine":
        span = max(1, total_steps - warmup)
        t = min(1.0, (step - warmup) / span)
        return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * t))
    raise ValueError(f"schedule must be 'cosine', 'step' or 'constant', got {schedule!r}")
