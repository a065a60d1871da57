"""``digit_order``: which digit came first? Two flashed digits, order is the label.

Each clip is 16 grey frames of 16 x 16 px. A handwritten 0 and a handwritten 1 (scikit-learn's real
scans, no download) are each flashed for one frame, at the same random place, at two random times at
least two frames apart (never the first or last frame); every other frame is grey background with
noise. Each flash has a random contrast polarity (bright or dark on grey). The label is the digit
shown first (0 or 1), so reversing the frames flips it, and no single frame tells it: the middle
frame is empty or shows either digit with the same odds under both labels (a single-frame net is at
chance, 50 %).

Why time must be kept beyond the first layer: the two flashes overlap in space, so the order exists
only as *which frame* held which digit. A 3D or (2+1)D net sees each frame through its own convs and
ReLUs and compares times in later layers. A 2D net on the frames stacked as channels mixes all 16
frames linearly in its first conv (8 filters in ``stack2d_small``): with the flashes at random times
and of random sign, such a mix superimposes the two digits with coefficients it cannot tell apart,
unless a filter happens to isolate the right frames (Tran et al. 2015, Sec. 3.1: 2D convolution on
several frames collapses time after the first layer).

The train and test clips use disjoint scans (digits' fixed 1437/360 split). Deterministic: clip ``i``
depends only on (seed, split, i); generation takes a second, so nothing is cached.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from .digits import _load_csv, split_indices
from .registry import register_dataset

FRAMES, SIZE, _DIGIT = 16, 16, 8
MIN_GAP = 2
_VERSION = 1


def _scans(split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = _load_csv()
    tr, te = split_indices(labels)
    keep = te if split == "test" else tr
    imgs, labs = images[keep] / 16.0, labels[keep]
    return imgs[labs == 0], imgs[labs == 1]


def flash_times(rng: np.random.Generator, frames: int = FRAMES) -> tuple[int, int]:
    """Two distinct frames in [1, frames - 2], at least MIN_GAP apart, in increasing order."""
    while True:
        a, b = sorted(int(v) for v in rng.choice(np.arange(1, frames - 1), size=2, replace=False))
        if b - a >= MIN_GAP:
            return a, b


def generate(split: str, n: int, seed: int = 0, noise: float = 0.05):
    """``(x uint8 (n, 16, 16, 16), y int64 (n,))``: y = the digit flashed first; clip i from (seed, split, i)."""
    zeros, ones = _scans(split)
    x = np.empty((n, FRAMES, SIZE, SIZE), np.uint8)
    y = np.empty(n, np.int64)
    split_id = 1 if split == "test" else 0
    for i in range(n):
        rng = np.random.default_rng([_VERSION, seed, split_id, i])
        label = int(rng.integers(2))
        first, second = (zeros, ones) if label == 0 else (ones, zeros)
        t1, t2 = flash_times(rng)
        r, c = rng.integers(0, SIZE - _DIGIT + 1, size=2)
        clip = 0.5 + rng.normal(0.0, noise, size=(FRAMES, SIZE, SIZE)).astype(np.float32)
        for t, pool in ((t1, first), (t2, second)):
            sign = rng.choice([-0.5, 0.5]) * rng.uniform(0.7, 1.0)
            clip[t, r:r + _DIGIT, c:c + _DIGIT] += sign * pool[rng.integers(len(pool))]
        x[i] = np.round(np.clip(clip, 0, 1) * 255)
        y[i] = label
    return x, y


class DigitOrder(Dataset):
    """Clips (float32 (1, 16, 16, 16) in [0, 1], label 0 or 1 = the digit flashed first).

    Shape: item -> ((1, T=16, 16, 16), int).
    """

    classes = ("0 first", "1 first")
    num_classes = 2
    modality = "video"
    input_size = (1, FRAMES, SIZE, SIZE)

    def __init__(self, split: str = "train", size: Optional[int] = None, seed: int = 0, noise: float = 0.05):
        if split not in ("train", "test", "val"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        split = "test" if split == "val" else split
        n = size if size is not None else (2000 if split == "train" else 1000)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"size must be a positive int, got {size!r}")
        x, y = generate(split, n, seed, noise)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i].unsqueeze(0).float() / 255.0, int(self.y[i])


@register_dataset("digit_order", modality="video", num_classes=2, input_size=(1, FRAMES, SIZE, SIZE))
def digit_order(split: str = "train", root=None, size: Optional[int] = None, seed: int = 0,
                noise: float = 0.05, **kwargs) -> DigitOrder:
    """Which digit came first: a 0 and a 1 flashed at random times, same place; 16 frames of 16x16."""
    if kwargs:
        raise TypeError(f"digit_order() got unexpected options {sorted(kwargs)}; expected size, seed, noise")
    return DigitOrder(split, size=size, seed=seed, noise=noise)
