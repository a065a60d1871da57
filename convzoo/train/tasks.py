"""What differs between tasks, in one place: the loss, the label check and the metrics.

    classification: logits (N, K), labels (N,)       -> cross-entropy, top-1 accuracy
    segmentation:   {"out": (N, K, H, W)}, masks (N, H, W) -> pixel cross-entropy skipping the ignore
                    index (255), pixel accuracy, per-class IoU and mIoU (a confusion matrix)

The trainer and ``evaluate`` call these and branch nowhere else.
"""
from __future__ import annotations

from typing import Any, Optional, Union

import torch
import torch.nn.functional as F

from ..data.segmentation import IGNORE_INDEX

__all__ = ["TASKS", "task_of", "logits_of", "task_loss", "check_targets", "count_correct", "SegMetrics"]

TASKS = ("classification", "segmentation")


def check_labels(y: torch.Tensor, num_classes: Optional[int], where: str) -> None:
    """Labels must be integer class indices in [0, num_classes): cross-entropy would skip -100
    silently and fail deep inside PyTorch on 10 of 10 classes."""
    if y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"{where}: labels are {str(y.dtype).replace('torch.', '')}, expected integer "
                         f"class indices")
    if y.numel() and num_classes:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= num_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{where}: label {bad} is outside 0..{num_classes - 1} "
                             f"(the model has {num_classes} classes)")

def task_of(*objs: Any) -> str:
    """The first ``task`` attribute (or ``default_cfg["task"]``) among ``objs``, else classification."""
    for o in objs:
        t = getattr(o, "task", None) or (getattr(o, "default_cfg", None) or {}).get("task")
        if t:
            return t
    return "classification"


def logits_of(out: Union[torch.Tensor, dict]) -> torch.Tensor:
    """A segmenter's ``{"out": logits}`` or a classifier's logits -> the logits."""
    return out["out"] if isinstance(out, dict) else out


def task_loss(task: str, logits: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0,
              reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy; per pixel, skipping :data:`IGNORE_INDEX`, for segmentation."""
    if task == "segmentation":
        return F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX, label_smoothing=label_smoothing,
                               reduction=reduction)
    return F.cross_entropy(logits, target, label_smoothing=label_smoothing, reduction=reduction)


def check_targets(task: str, y: torch.Tensor, num_classes: Optional[int], where: str) -> None:
    """Class indices in [0, num_classes); masks may also hold the ignore index. One line otherwise."""
    if task != "segmentation":
        return check_labels(y, num_classes, where)
    if y.dim() != 3:
        raise ValueError(f"{where}: segmentation targets must be masks (N, H, W), got shape {tuple(y.shape)}")
    check_labels(y.masked_fill(y == IGNORE_INDEX, 0), num_classes, where + " (masks; 255 = ignore)")


def count_correct(task: str, logits: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
    """(correct, counted): top-1 hits over samples, or over the pixels that are not ignored."""
    hit = logits.argmax(1) == y
    if task == "segmentation":
        keep = y != IGNORE_INDEX
        return int((hit & keep).sum()), int(keep.sum())
    return int(hit.sum()), y.numel()


class SegMetrics:
    """A confusion matrix over the non-ignored pixels -> pixel accuracy, per-class IoU, mIoU.

    IoU_c = TP / (TP + FP + FN) (Everingham et al. 2010, the VOC segmentation measure); mIoU is the
    mean over classes that occur in the labels or the predictions (an absent class has no IoU).
    """

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, logits: torch.Tensor, y: torch.Tensor) -> None:
        keep = y != IGNORE_INDEX
        idx = y[keep] * self.num_classes + logits.argmax(1)[keep]
        self.matrix += torch.bincount(idx.cpu(), minlength=self.num_classes ** 2).view(
            self.num_classes, self.num_classes)

    def result(self) -> dict[str, Any]:
        m = self.matrix.double()
        tp, gt, pred = m.diag(), m.sum(1), m.sum(0)
        union = gt + pred - tp
        iou = [float(tp[c] / union[c]) if union[c] > 0 else None for c in range(self.num_classes)]
        present = [v for v in iou if v is not None]
        return {"miou": sum(present) / len(present) if present else 0.0, "iou": iou,
                "pixel_accuracy": float(tp.sum() / m.sum()) if m.sum() > 0 else 0.0}
