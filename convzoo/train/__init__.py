"""Training: ``fit(model, train_set, test_set, TrainConfig(...), out_dir)`` -> report dict.

    >>> from convzoo.train import TrainConfig, fit
    >>> report = fit(model, train_set, test_set, TrainConfig(epochs=10, lr=1e-3), out_dir="runs/x")
    >>> report["accuracy"], report["params"], report["macs"], report["latency_ms"]

Resumable (``resume=True``), distributed under ``torchrun`` (DDP), EMA, AMP, mixup/CutMix,
RandAugment and EfficientNetV2's progressive learning; see docs/training.md.
"""
from typing import TYPE_CHECKING

from .._lazy import lazy_exports

__all__ = ["TrainConfig", "fit", "evaluate", "check_fits", "first_n", "ModelEma", "lr_at", "save_weights",
           "load_weights", "save_checkpoint", "load_checkpoint", "CheckpointError", "DataMismatchError",
           "TrainingDiverged"]
# loaded on first use: `convzoo train --help` reads TrainConfig's ranges without loading torch
__getattr__, __dir__ = lazy_exports(__name__, {
    "TrainConfig": ".config", "fit": ".engine", "evaluate": ".engine", "check_fits": ".engine", "first_n": ".engine",
    "DataMismatchError": ".engine", "TrainingDiverged": ".engine", "ModelEma": ".ema", "lr_at": ".schedule",
    "save_weights": "..weights", "load_weights": "..weights", "save_checkpoint": ".checkpoint",
    "load_checkpoint": ".checkpoint", "CheckpointError": ".checkpoint"})

if TYPE_CHECKING:
    from ..weights import load_weights, save_weights
    from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from .config import TrainConfig
    from .ema import ModelEma
    from .engine import DataMismatchError, TrainingDiverged, check_fits, evaluate, fit
    from .schedule import lr_at
