"""``TrainConfig``: every knob of a training run, saved as ``config.json`` in the run folder.

Defaults are a small-data recipe (AdamW, cosine with warmup) that trains the digits nets in seconds.
The EfficientNet recipe (Tan & Le 2019, arXiv:1905.11946, Sec. 5.2) is ``optimizer="rmsprop"``
(decay 0.9, momentum 0.9, eps 1e-3), ``schedule="step"`` (x0.97 every 2.4 epochs), ``ema_decay=0.9999``,
``label_smoothing=0.1``; EfficientNetV2's progressive learning (arXiv:2104.00298, Table 6) is
``progressive_stages=4`` with the ``*_range`` fields.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from ..ranges import Range

OPTIMIZERS = ("sgd", "adamw", "rmsprop")
SCHEDULES = ("cosine", "step", "constant")
AMP_MODES = ("none", "bf16", "fp16")
TASKS = ("classification", "segmentation")   # the loss and metrics (convzoo.train.tasks)
# More loader workers than this only compete for the cores (and each holds a copy of the dataset).
MAX_WORKERS = max(4, 2 * (os.cpu_count() or 1))

# The allowed range of every numeric field, checked when a config is made (and so before a run
# writes anything). A value outside is refused rather than trained with: a negative clip or decay
# turns descent into ascent, a zero period divides by zero, a limit of -1 evaluates on nothing.
RANGES: dict[str, Range] = {
    "epochs": Range(int, 1, 100_000),
    "batch_size": Range(int, 1, 1 << 20),
    "lr": Range(float, 0, 10, lo_open=True),
    "weight_decay": Range(float, 0, 10),
    "momentum": Range(float, 0, 1, hi_open=True),
    "warmup_epochs": Range(float, 0, 100_000),
    "min_lr": Range(float, 0, 10),
    # > 1 grows the lr each period; allowed (a test provokes divergence with it), but bounded
    "step_decay": Range(float, 0, 1e12, lo_open=True),
    "step_epochs": Range(float, 0, 100_000, lo_open=True),
    "label_smoothing": Range(float, 0, 1, hi_open=True),
    "clip_grad": Range(float, 0, 1e6, lo_open=True, optional=True),
    "ema_decay": Range(float, 0, 1, lo_open=True, hi_open=True, optional=True),
    "image_size": Range(int, 1, 8192, optional=True),
    "randaugment": Range(int, 0, 30, optional=True),
    "mixup": Range(float, 0, 100),
    "cutmix": Range(float, 0, 100),
    "drop_rate": Range(float, 0, 1, hi_open=True, optional=True),
    "progressive_stages": Range(int, 0, 100_000),
    "seed": Range(int, 0, 2**32 - 1),             # NumPy's seed range
    "num_workers": Range(int, 0, MAX_WORKERS),
    "limit_train": Range(int, 1, 1 << 40, optional=True),
    "limit_test": Range(int, 1, 1 << 40, optional=True),
    "eval_every": Range(int, 1, 100_000),
    "latency_runs": Range(int, 1, 100_000),
    "layer_decay": Range(float, 0, 1, lo_open=True, optional=True),
}
FREEZE_MODES = ("backbone",)
# the allowed values of every string field (freeze may also be None: nothing frozen)
CHOICES: dict[str, tuple] = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "amp": AMP_MODES,
                             "freeze": FREEZE_MODES, "task": TASKS}
# each entry of the (min, max) progressive-learning ranges
PAIR_RANGES: dict[str, Range] = {
    "size_range": Range(int, 1, 8192),
    "randaug_range": Range(float, 0, 30),
    "mixup_range": Range(float, 0, 100),
    "dropout_range": Range(float, 0, 1, hi_open=True),
}


@dataclass
class TrainConfig:
    task: str = "classification"         # "classification" | "segmentation" (pixel CE, ignore 255, mIoU)
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
    # fine-tuning (convzoo train --pretrained)
    freeze: Optional[str] = None         # "backbone": train the classifier only (a linear probe)
    layer_decay: Optional[float] = None  # timm's layer-wise lr decay: layer i of L gets lr * decay**(L - i)
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
        self.optimizer = str(self.optimizer).lower()
        for name, options in CHOICES.items():
            if not (name == "freeze" and self.freeze is None):
                _choice(name, getattr(self, name), options)
        if self.task == "segmentation":
            # these move or mix images without their masks
            for name in ("image_size", "randaugment", "size_range", "randaug_range", "mixup_range"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} is not supported with task='segmentation' (it would change "
                                     "images without their masks); the dataset augments pairs")
            if self.mixup or self.cutmix:
                raise ValueError("mixup/CutMix are not supported with task='segmentation'")
        for name, rng in RANGES.items():
            setattr(self, name, rng.check(name, getattr(self, name)))
        for name, rng in PAIR_RANGES.items():
            v = getattr(self, name)
            if v is not None:
                if isinstance(v, (str, bytes)) or not hasattr(v, "__len__") or len(v) != 2:
                    raise ValueError(f"{name} must be (min, max), got {v!r}")
                lo, hi = (rng.check(f"{name} entry", x) for x in v)
                if lo > hi:
                    raise ValueError(f"{name} must be (min, max) with min <= max, got {tuple(v)!r}")
                setattr(self, name, (lo, hi))
        if self.progressive_stages > self.epochs:
            raise ValueError(f"progressive_stages must be in [0, epochs={self.epochs}], "
                             f"got {self.progressive_stages}")
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr must be <= lr ({self.lr:g}), got {self.min_lr:g}")

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
