"""Batches in and out of a model: autocast, per-channel normalisation, resizing and the evaluation
loop (top-1 accuracy and mean cross-entropy on a dataset).

    DataLoader -> [resize] -> normalise (dataset mean/std) -> autocast forward -> logits
"""
from __future__ import annotations

import sys
from typing import Optional

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .augment import resize_batch
from .tasks import SegMetrics, check_targets, count_correct, logits_of, task_loss, task_of


def autocast(device: torch.device, amp: str):
    """The autocast context for ``amp`` ("none", "bf16", "fp16"); fp16 needs CUDA."""
    if amp == "none":
        return torch.autocast(device.type, enabled=False)
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("amp='fp16' needs CUDA; use amp='bf16' on CPU")
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def norm_stats(dataset: Dataset, device: torch.device):
    """(mean, std) tensors of the dataset's per-channel statistics, or None when it has none."""
    mean, std = getattr(dataset, "mean", None), getattr(dataset, "std", None)
    if mean is None or std is None:
        return None
    return (torch.tensor(mean, dtype=torch.float32, device=device),
            torch.tensor(std, dtype=torch.float32, device=device))


def prepare_batch(x: torch.Tensor, size: Optional[int], stats) -> torch.Tensor:
    """[resize] -> normalise with the dataset's per-channel mean/std (when it has them)."""
    x = resize_batch(x.float(), size)
    if stats is not None:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        x = (x - stats[0].view(shape)) / stats[1].view(shape)
    return x


def sample_input_size(dataset: Dataset, size: Optional[int] = None) -> tuple:
    """(C, *S) of one sample, with images resized to ``size``."""
    x, _ = dataset[0]
    shape = tuple(x.shape)
    if size is not None and len(shape) == 3:
        shape = (shape[0], size, size)
    return shape


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, *, batch_size: int = 256, image_size: Optional[int] = None,
             device: Optional[torch.device] = None, amp: str = "none", num_workers: int = 0,
             progress: bool = False) -> dict[str, float]:
    """Top-1 accuracy and mean cross-entropy (no label smoothing) of ``model`` on ``dataset``.

    A segmenter (``task="segmentation"`` on the model or the dataset) is scored per pixel, the
    ignore index skipped: ``accuracy`` is pixel accuracy, plus ``miou`` and per-class ``iou``
    (:class:`convzoo.train.tasks.SegMetrics`); ``samples`` counts images.
    """
    from tqdm import tqdm
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    stats = norm_stats(dataset, device)
    n_cls = getattr(model, "num_classes", None) or getattr(dataset, "num_classes", None)
    task = task_of(model, dataset)
    seg = SegMetrics(n_cls) if task == "segmentation" else None
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    correct, total, loss_sum, images = 0, 0, 0.0, 0
    for x, y in tqdm(loader, desc="eval", leave=False, disable=not progress, file=sys.stderr):
        check_targets(task, y, n_cls, "test set")
        x, y = prepare_batch(x.to(device), image_size, stats), y.to(device)
        with autocast(device, amp):
            logits = logits_of(model(x))
        logits = logits.float()
        loss_sum += task_loss(task, logits, y, reduction="sum").item()
        hits, counted = count_correct(task, logits, y)
        correct, total, images = correct + hits, total + counted, images + len(y)
        if seg is not None:
            seg.update(logits, y)
    model.train(was_training)
    res = {"accuracy": correct / max(total, 1), "loss": loss_sum / max(total, 1), "samples": images}
    return {**res, **(seg.result() if seg is not None else {})}


def prepared_batches(dataset: Dataset, image_size: Optional[int], limit: Optional[int] = None, batch: int = 64):
    """Batches ``(x prepared as in training, y)`` of the first ``limit`` samples of ``dataset``: what
    calibration, deploy's check and quantize's report feed an engine."""
    from torch.utils.data import Subset
    stats = norm_stats(dataset, torch.device("cpu"))
    if limit is not None:
        dataset = Subset(dataset, range(min(limit, len(dataset))))
    for x, y in DataLoader(dataset, batch_size=batch, shuffle=False):
        yield prepare_batch(x, image_size, stats), y
