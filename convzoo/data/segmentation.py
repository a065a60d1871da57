"""Segmentation data in common: the ignore index, mask checks, the VOC palette and palette PNG masks.

A segmentation sample is ``(image (C, H, W) float32 in [0, 1], mask (H, W) int64)``; a mask value is a
class index in ``[0, num_classes)`` or :data:`IGNORE_INDEX` (255, Pascal VOC's "void": object
boundaries and padding), which the loss and the metrics skip.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch

from ..io import atomic_write

__all__ = ["IGNORE_INDEX", "VOC_CLASSES", "voc_palette", "check_mask", "save_mask_png", "load_mask_png",
           "masks_from_logits"]

IGNORE_INDEX = 255
VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
               "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
               "sheep", "sofa", "train", "tvmonitor")


def voc_palette() -> list[int]:
    """Pascal VOC's 256-colour palette (the devkit's ``labelcolormap``: bits of the class index spread
    over R, G, B from the high bit down), as the flat ``[r0, g0, b0, r1, ...]`` list PIL takes.
    Class 1 is (128, 0, 0), class 15 (person) (192, 128, 128), 255 (void) (224, 224, 192)."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def check_mask(mask: torch.Tensor, image_size: Sequence[int], num_classes: int, where: str) -> None:
    """One line when ``mask`` is not (H, W) of the image's size or holds a value outside
    ``[0, num_classes)`` other than :data:`IGNORE_INDEX`."""
    if tuple(mask.shape) != tuple(image_size):
        raise ValueError(f"{where}: mask is {tuple(mask.shape)} but its image is {tuple(image_size)} "
                         f"(H, W); they must match")
    bad = mask[(mask != IGNORE_INDEX) & ((mask < 0) | (mask >= num_classes))]
    if bad.numel():
        raise ValueError(f"{where}: mask value {int(bad[0])} is outside 0..{num_classes - 1} and is not "
                         f"the ignore index {IGNORE_INDEX}")


def masks_from_logits(out: Union[torch.Tensor, dict]) -> torch.Tensor:
    """A segmenter's output (``{"out": logits}`` or the logits) -> class masks (N, H, W) uint8."""
    logits = out["out"] if isinstance(out, dict) else out
    if logits.dim() != 4:
        raise ValueError(f"expected logits (N, classes, H, W), got shape {tuple(logits.shape)}")
    if logits.shape[1] > 256:
        raise ValueError(f"a palette PNG holds at most 256 classes, got {logits.shape[1]}")
    return logits.argmax(1).to(torch.uint8)


def save_mask_png(mask: Union[torch.Tensor, np.ndarray], path: Union[str, os.PathLike],
                  palette: Optional[Sequence[int]] = None) -> Path:
    """Write a class mask (H, W) of ints in 0..255 as a palette ("P" mode) PNG, VOC's format
    (palette: :func:`voc_palette` unless given), atomically; returns the path."""
    from PIL import Image
    arr = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"a mask must be (H, W), got shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise ValueError(f"mask values must be in 0..255 for a palette PNG, got {arr.min()}..{arr.max()}")
    img = Image.fromarray(arr.astype(np.uint8), mode="P")
    img.putpalette(list(palette) if palette is not None else voc_palette())
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"mask files are PNG: the path must end in .png, got {path.name!r}")
    return atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))


def load_mask_png(path: Union[str, os.PathLike]) -> torch.Tensor:
    """A palette PNG's class indices (H, W) int64 (the palette is ignored: the index is the class)."""
    from PIL import Image
    with Image.open(path) as img:
        if img.mode not in ("P", "L"):
            raise ValueError(f"{path}: a class mask must be a palette (P) or grey (L) PNG, got mode {img.mode}")
        return torch.from_numpy(np.array(img, dtype=np.int64))
