"""Augmentations (torchvision transforms v2) and EfficientNetV2's progressive learning.

- RandAugment (Cubuk et al. 2020, arXiv:1909.13719) per sample, on float images in [0, 1].
- mixup (Zhang et al. 2018, arXiv:1710.09412) / CutMix (Yun et al. 2019, arXiv:1905.04899) per batch;
  labels become soft (N, num_classes) targets.
- Progressive learning (Tan & Le 2021, arXiv:2104.00298, Sec. 4.2, Algorithm 1, Table 6): training is
  split into M stages; image size, RandAugment magnitude, mixup alpha and dropout grow linearly from
  their min to their max value, stage by stage. Evaluation uses the final (largest) size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset


@dataclass(frozen=True)
class StageSettings:
    """What one epoch trains with (None = leave as configured)."""
    stage: int
    image_size: Optional[int]
    randaugment: Optional[float]
    mixup: float
    dropout: Optional[float]


def _lerp(rng: Optional[tuple], i: int, m: int):
    if rng is None:
        return None
    lo, hi = rng
    return lo + (hi - lo) * (i / (m - 1) if m > 1 else 1.0)


def stage_settings(cfg, epoch: int) -> StageSettings:
    """Settings for 0-based ``epoch`` under ``cfg`` (a :class:`~convzoo.train.TrainConfig`).

    Without progressive learning every epoch gets the configured values. With ``M`` stages, epoch
    ``e`` is in stage ``i = floor(e * M / epochs)`` and each ``*_range`` value is
    ``min + (max - min) * i / (M - 1)`` (Algorithm 1).
    """
    m = cfg.progressive_stages
    if m <= 0:
        return StageSettings(0, cfg.image_size, cfg.randaugment, cfg.mixup, cfg.drop_rate)
    i = min(m - 1, epoch * m // cfg.epochs)
    size = _lerp(cfg.size_range, i, m)
    ra = _lerp(cfg.randaug_range, i, m)
    mix = _lerp(cfg.mixup_range, i, m)
    drop = _lerp(cfg.dropout_range, i, m)
    return StageSettings(
        stage=i,
        image_size=int(round(size)) if size is not None else cfg.image_size,
        randaugment=ra if ra is not None else cfg.randaugment,
        mixup=mix if mix is not None else cfg.mixup,
        dropout=drop if drop is not None else cfg.drop_rate)


def eval_image_size(cfg) -> Optional[int]:
    """The size evaluation runs at: the last stage's size under progressive learning."""
    if cfg.progressive_stages > 0 and cfg.size_range is not None:
        return int(round(cfg.size_range[1]))
    return cfg.image_size


class AugmentedDataset(Dataset):
    """Applies RandAugment to each image sample; ``magnitude`` may change between epochs."""

    def __init__(self, dataset: Dataset, magnitude: Optional[float] = None):
        self.dataset = dataset
        self.magnitude = magnitude
        for attr in ("num_classes", "input_size", "mean", "std", "modality"):
            if hasattr(dataset, attr):
                setattr(self, attr, getattr(dataset, attr))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        x, y = self.dataset[i]
        if self.magnitude is not None and self.magnitude > 0:
            from torchvision.transforms import v2
            # NOTE: RandAugment's magnitude is an integer bin; progressive stages may give fractions.
            x = v2.RandAugment(magnitude=int(round(self.magnitude)), num_magnitude_bins=31)(x)
        return x, y


def mix_batch(x: torch.Tensor, y: torch.Tensor, num_classes: int, mixup: float, cutmix: float):
    """mixup and/or CutMix (one of them per batch, chosen at random, as timm) -> (x, soft targets)."""
    from torchvision.transforms import v2
    ops = []
    if mixup > 0:
        ops.append(v2.MixUp(alpha=float(mixup), num_classes=num_classes))
    if cutmix > 0:
        ops.append(v2.CutMix(alpha=float(cutmix), num_classes=num_classes))
    if not ops:
        return x, y
    op = ops[0] if len(ops) == 1 else v2.RandomChoice(ops)
    return op(x, y)


def resize_batch(x: torch.Tensor, size: Optional[int]) -> torch.Tensor:
    """Resize a batch of images (N, C, H, W) to ``size`` x ``size`` (bilinear); other ranks unchanged."""
    if size is None or x.dim() != 4 or tuple(x.shape[-2:]) == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def set_dropout(model: nn.Module, p: Optional[float]) -> None:
    """Set the classifier dropout to ``p`` (progressive learning's regularisation knob)."""
    if p is None:
        return
    head = getattr(model, "head", None)
    if head is not None and hasattr(head, "drop"):
        if isinstance(head.drop, nn.Dropout):
            head.drop.p = float(p)
        elif p > 0:
            head.drop = nn.Dropout(float(p))
        return
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = float(p)
