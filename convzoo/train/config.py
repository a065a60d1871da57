"""``TrainConfig``: every knob of a training run, saved as ``config.json`` in the run folder.

Defaults are a small-data recipe (AdamW, cosine with warmup) that trains the digits nets in seconds.
The EfficientNet recipe (Tan & Le 2019, arXiv:1905.11946, Sec. 5.2) is ``optimizer="rmsprop"``
(decay 0.9, momentum 0.9, eps 1e-3), ``schedule="step"`` (x0.97 every 2.4 epochs), ``ema_decay=0.9999``,
``label_smoothing=0.1``; EfficientNetV2's progressive learning (arXiv:2104.00298, Table 6) is
``progressive_stages=4`` with the ``*_range`` fields.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

OPTIMIZERS = ("sgd", "adamw", "rmsprop")
SCHEDULES = ("cosine", "step", "constant")
AMP_MODES = ("none", "bf16", "fp16")


@dataclass
class TrainConfig:
    # optimisation
    epochs: int = 10
    batch_size: int = 64                 # global batch (split over the processes when distributed)
    lr: float = 1e-3
    optimizer: str = "adamw"             # "sgd" | "adamw" | "rmsprop"
    weight_decay: float = 0.05
    momentum: float = 0.9                # SGD momentum / RMSProp momentum
    schedule: str = "cosine"             # "cosine" | "step" (EfficientNet: x0.97 every 2.4 epochs) | "constant"
    warmup_epochs: float = 1.0
    min_lr: float = 0.0
    step_decay: float = 0.97
    step_epochs: float = 2.4
    label_smoothing: float = 0.0
    clip_grad: Optional[float] = None    # max global grad norm
    ema_decay: Optional[float] = None    # e.g. 0.999; evaluation then uses the EMA weights
    amp: str = "none"                    # "none" | "bf16" (CPU or CUDA) | "fp16" (CUDA)
    # data and augmentation
    image_size: Optional[int] = None     # resize images to this side (None: the dataset's own)
    randaugment: Optional[int] = None    # RandAugment magnitude (0..30), None = off
    mixup: float = 0.0                   # mixup alpha, 0 = off
    cutmix: float = 0.0                  # cutmix alpha, 0 = off
    drop_rate: Optional[float] = None    # classifier dropout (None: the model's own)
    # EfficientNetV2 progressive learning (Table 6): values grow linearly over the stages
    progressive_stages: int = 0          # 0 = off; the paper uses 4
    size_range: Optional[tuple] = None   # (min, max) image side
    randaug_range: Optional[tuple] = None
    mixup_range: Optional[tuple] = None
    dropout_range: Optional[tuple] = None
    # run
    seed: int = 0
    device: str = "auto"                 # "auto" | "cpu" | "cuda" | "cuda:1" ...
    num_workers: int = 0
    deterministic: bool = False          # torch.use_deterministic_algorithms(True)
    sync_bn: bool = False                # SyncBatchNorm when distributed
    limit_train: Optional[int] = None    # use only the first N training samples
    limit_test: Optional[int] = None
    eval_every: int = 1
    latency_runs: int = 30               # batch-1 forward passes timed for latency_ms
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.optimizer = self.optimizer.lower()
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("amp", self.amp, AMP_MODES)
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1), got {self.ema_decay!r}")
        if self.randaugment is not None and not 0 <= self.randaugment <= 30:
            raise ValueError(f"randaugment magnitude must be in [0, 30], got {self.randaugment!r}")
        if self.progressive_stages < 0 or self.progressive_stages > self.epochs:
            raise ValueError(f"progressive_stages must be in [0, epochs={self.epochs}], "
                             f"got {self.progressive_stages}")
        for name in ("size_range", "randaug_range", "mixup_range", "dropout_range"):
            v = getattr(self, name)
            if v is not None:
                if len(v) != 2:
                    raise ValueError(f"{name} must be (min, max), got {v!r}")
                setattr(self, name, tuple(v))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {', '.join(unknown)}")
        return cls(**d)


def _choice(name: str, value: str, options: tuple) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}, got {value!r}")
