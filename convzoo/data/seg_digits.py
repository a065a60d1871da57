"""``seg_digits``: a built-in segmentation task, scikit-learn's 8x8 digit scans on clutter with masks.

Each image (``canvas`` x ``canvas``, default 32) holds ``digits`` (default 2) scans enlarged
``zoom`` times (default 2: 16x16, nearest neighbour) at random places and contrasts, drawn over
``clutter`` 4x4 fragments (enlarged alike) cut from other scans, plus noise. Its mask gives
every pixel a class: 0 background (clutter included), ``1 + d`` a stroke of digit d (scan intensity
>= 0.4 of full ink), and the ignore index 255 on faint stroke edges (intensity 0.1-0.4), as VOC marks
object boundaries. 11 classes; ``labels="binary"`` keeps 2 (0 background or clutter, 1 a digit's
stroke: figure-ground). A pixel's class needs context: a fragment looks like a stroke, and a
stroke alone does not say which digit it belongs to, so the task rewards a large receptive field
at full resolution, which is what dilation and decoders are for (docs/dense.md).

Train and test use disjoint scans (digits' fixed stratified split, as :mod:`.cluttered_digits`).
Deterministic: image ``i`` of a split depends only on (seed, split, i) (NumPy PCG64 seeded from
them). Generation takes well under a second per thousand images, so nothing is cached.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from .digits import _load_csv, split_indices
from .paired_augment import PairedAugment
from .registry import register_dataset
from .segmentation import IGNORE_INDEX

_DIGIT, _FRAG, _VERSION = 8, 4, 1
STROKE, EDGE = 0.4, 0.1          # ink fraction: >= STROKE is the digit's class, EDGE..STROKE ignored
NUM_CLASSES = 11
# Statistics of the default train split (1000 images); the trainer normalises with them.
MEAN, STD = (0.1963,), (0.2773,)


def generate(split: str, n: int, seed: int = 0, canvas: int = 32, digits: int = 2, clutter: int = 4,
             noise: float = 0.1, zoom: int = 2):
    """``(x float32 (n, 1, canvas, canvas) in [0, 1], masks uint8 (n, canvas, canvas))``."""
    images, labels = _load_csv()
    tr, te = split_indices(labels)
    keep = te if split == "test" else tr
    scans, classes = images[keep] / 16.0, labels[keep]
    scans = np.kron(scans.reshape(-1, _DIGIT, _DIGIT), np.ones((1, zoom, zoom)))
    side, frag_side = _DIGIT * zoom, _FRAG * zoom
    split_id = 1 if split == "test" else 0
    x = np.zeros((n, 1, canvas, canvas), np.float32)
    m = np.zeros((n, canvas, canvas), np.uint8)
    for i in range(n):
        rng = np.random.default_rng([_VERSION, seed, split_id, i])
        img, mask = x[i, 0], m[i]
        for _ in range(clutter):
            src = scans[rng.integers(len(scans))]
            r, c = rng.integers(0, side - frag_side + 1, size=2)
            pr, pc = rng.integers(0, canvas - frag_side + 1, size=2)
            win = (slice(pr, pr + frag_side), slice(pc, pc + frag_side))
            np.maximum(img[win], rng.uniform(0.5, 1.0) * src[r:r + frag_side, c:c + frag_side], out=img[win])
        for _ in range(digits):       # later digits lie on top: their strokes win the mask
            j = int(rng.integers(len(scans)))
            pr, pc = rng.integers(0, canvas - side + 1, size=2)
            scan = scans[j]
            win = (slice(pr, pr + side), slice(pc, pc + side))
            np.maximum(img[win], rng.uniform(0.6, 1.0) * scan, out=img[win])
            sub = mask[win]
            sub[(scan >= EDGE) & (scan < STROKE)] = IGNORE_INDEX
            sub[scan >= STROKE] = 1 + classes[j]
        img += rng.normal(0.0, noise, size=img.shape).astype(np.float32)
    np.clip(x, 0.0, 1.0, out=x)
    return x, m


class SegDigits(Dataset):
    """(image (1, canvas, canvas) float32 in [0, 1], mask (canvas, canvas) int64) pairs.

    ``augment`` (train split only by default): :class:`~convzoo.data.paired_augment.PairedAugment`
    with scale 0.75-1.25, crop ``canvas`` and flip 0.5.
    Shape: item -> ((1, S, S) float32, (S, S) int64).
    """

    num_classes = NUM_CLASSES
    modality = "image"
    task = "segmentation"
    classes = ("background",) + tuple(str(d) for d in range(10))
    mean, std = MEAN, STD

    def __init__(self, split: str = "train", size: Optional[int] = None, seed: int = 0, canvas: int = 32,
                 digits: int = 2, clutter: int = 4, noise: float = 0.1, zoom: int = 2,
                 augment: Optional[bool] = None, labels: str = "digit"):
        if split not in ("train", "test", "val"):
            raise ValueError(f"split must be 'train', 'test' or 'val', got {split!r}")
        n = size if size is not None else (1000 if split == "train" else 500)
        for name, v, lo in (("size", n, 1), ("zoom", zoom, 1), ("digits", digits, 0), ("clutter", clutter, 0)):
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
        if not 0 <= noise <= 1:
            raise ValueError(f"noise must be in [0, 1], got {noise!r}")
        if not isinstance(canvas, int) or isinstance(canvas, bool) or canvas < _DIGIT * zoom:
            raise ValueError(f"canvas must be an int >= {_DIGIT * zoom} (one digit at zoom {zoom}), "
                             f"got {canvas!r}")
        if labels not in ("digit", "binary"):
            raise ValueError(f'labels must be "digit" (11 classes) or "binary" (2), got {labels!r}')
        split = "test" if split == "val" else split
        x, m = generate(split, n, seed, canvas, digits, clutter, noise, zoom)
        self.images, self.masks = torch.from_numpy(x), torch.from_numpy(m).long()
        if labels == "binary":
            self.masks[(self.masks > 0) & (self.masks != IGNORE_INDEX)] = 1
            self.num_classes, self.classes = 2, ("background", "digit")
        self.input_size = (1, canvas, canvas)
        use = (split == "train") if augment is None else augment
        self.augment = PairedAugment(canvas, scale=(0.75, 1.25)) if use else None

    def __len__(self) -> int:
        return len(self.masks)

    def __getitem__(self, i: int):
        x, m = self.images[i], self.masks[i]
        return self.augment(x, m) if self.augment is not None else (x, m)


@register_dataset("seg_digits", modality="image", num_classes=NUM_CLASSES, input_size=(1, 32, 32),
                  description="segmentation: digits on clutter, per-pixel classes (11, 255 = ignore)")
def seg_digits(split: str = "train", root=None, size: Optional[int] = None, seed: int = 0, canvas: int = 32,
               digits: int = 2, clutter: int = 4, noise: float = 0.1, zoom: int = 2,
               augment: Optional[bool] = None, labels: str = "digit", **kwargs) -> SegDigits:
    """Digits on clutter with per-pixel masks (segmentation, built in)."""
    kwargs.pop("image_size", None)
    if kwargs:
        raise TypeError(f"seg_digits() got unexpected options {sorted(kwargs)}; expected size, seed, "
                        "canvas, digits, clutter, noise, zoom, augment, labels")
    return SegDigits(split, size=size, seed=seed, canvas=canvas, digits=digits, clutter=clutter,
                     noise=noise, zoom=zoom, augment=augment, labels=labels)
