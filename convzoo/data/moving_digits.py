"""``moving_digits``: clips of a handwritten digit gliding across the frame; the label is the direction.

Each clip is ``num_frames`` grey frames of ``frame_size`` x ``frame_size`` pixels (default 8 x 24 x 24:
small enough that a 3D net trains in minutes on two CPU cores, where 3D convs are slow). One 8x8
digit from scikit-learn's bundled digits set (no download) moves one pixel per frame in one of 8
directions (E, NE, N, NW, W, SW, S, SE = labels 0..7) over a weak noise background. The digit's identity is irrelevant.

Why no single frame carries the answer: the trajectory is placed so that the digit sits at the *same*
random position distribution in the middle frame (index ``num_frames // 2``) whatever the direction,
so a net that sees that frame alone is at chance (1/8); the direction exists only across frames.
The train and test splits draw from disjoint digit images (every 5th image is held out for test).

``flicker_digits`` is the same motion with the digit's contrast polarity drawn afresh for every frame
(bright on grey or dark on grey, ``polarity="random"``). The direction is still the label and the
middle frame still carries none of it, but now it can only be read after each frame has been
rectified: any linear mix of the frames, which is what the first conv of a net on stacked frames
computes before its first non-linearity, averages frames of random sign, so the motion survives only
in the few frame-specific channels that layer has. A 3D or (2+1)D net applies convs and ReLUs frame
by frame and mixes time in its later layers as well (Tran et al. 2015, Sec. 3.1: 2D convolution on
several frames collapses time after the first layer; 3D convolution keeps it).

Deterministic: clip ``i`` depends only on (seed, split, i); generated sets are cached (see
:mod:`convzoo.data._cache`).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from ._cache import cached_arrays
from .registry import register_dataset
from .._extras import require

DIRECTIONS = ("E", "NE", "N", "NW", "W", "SW", "S", "SE")
# (dx, dy) per frame, image coordinates (y grows downwards).
VELOCITY = ((1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1))
_VERSION = 1
_DIGIT = 8   # sklearn digits are 8x8


@lru_cache(maxsize=1)
def _all_digit_images() -> np.ndarray:
    load_digits = require("sklearn.datasets", "data", "the digit images").load_digits
    return load_digits().images.astype(np.float32) / 16.0          # (1797, 8, 8) in [0, 1]


def _digit_images(split: str) -> np.ndarray:
    images = _all_digit_images()
    held_out = np.arange(len(images)) % 5 == 0
    return images[held_out] if split == "test" else images[~held_out]


def generate(split: str, n: int, num_frames: int = 8, size: int = 24, seed: int = 0,
             noise: float = 0.05, polarity: str = "fixed") -> dict[str, np.ndarray]:
    """``{"x": uint8 (n, T, H, W), "y": int64 (n,)}``; clip ``i`` depends only on (seed, split, i).

    ``polarity="random"``: every frame shows the digit bright or dark (at random) on a grey background."""
    if polarity not in ("fixed", "random"):
        raise ValueError(f"polarity must be 'fixed' or 'random', got {polarity!r}")
    travel = 2 * (num_frames // 2)
    if size < _DIGIT + travel:
        raise ValueError(f"size must be at least {_DIGIT + travel} px for {num_frames} frames "
                         f"(an 8 px digit moving 1 px per frame), got {size}")
    digits = _digit_images(split)
    mid = num_frames // 2
    # Position at frame t is c + (t - mid) * v, v in {-1, 0, 1}. c must keep the digit inside at
    # t = 0 and t = T-1 for every direction: c in [r, size - 8 - r], r = max(mid, T - 1 - mid). The
    # same range for all directions makes the middle frame carry no information about the label.
    lo = max(mid, num_frames - 1 - mid)
    hi = size - _DIGIT - lo
    x = np.empty((n, num_frames, size, size), np.uint8)
    y = np.empty(n, np.int64)
    split_id = {"train": 0, "test": 1}[split]
    t = np.arange(num_frames) - mid
    for i in range(n):
        rng = np.random.default_rng([_VERSION, seed, split_id, i])
        label = int(rng.integers(8))
        dx, dy = VELOCITY[label]
        img = digits[rng.integers(len(digits))]
        cx, cy = rng.integers(lo, hi + 1, size=2)
        gain = rng.uniform(0.7, 1.0)
        clip = rng.uniform(0, noise, size=(num_frames, size, size)).astype(np.float32)
        if polarity == "random":
            clip += 0.5 - noise / 2                           # grey background, same noise
            signs = rng.choice([-0.5, 0.5], size=num_frames)
        for f in range(num_frames):
            px, py = cx + t[f] * dx, cy + t[f] * dy
            patch = clip[f, py:py + _DIGIT, px:px + _DIGIT]
            if polarity == "random":
                patch += signs[f] * gain * img
            else:
                np.maximum(patch, gain * img, out=patch)
        x[i] = np.round(np.clip(clip, 0, 1) * 255)
        y[i] = label
    return {"x": x, "y": y}


class MovingDigits(Dataset):
    """MovingDigits clips: item -> (float32 (1, T, H, W) in [0, 1], direction label 0..7).

    Shape: item -> ((1, num_frames, size, size), int).
    """

    classes = DIRECTIONS
    num_classes = 8
    modality = "video"

    def __init__(self, split: str = "train", root: Optional[str] = None, size: Optional[int] = None,
                 num_frames: int = 8, frame_size: int = 24, seed: int = 0, cache: bool = True,
                 polarity: str = "fixed"):
        if split == "val":
            split = "test"
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        n = size if size is not None else (4000 if split == "train" else 1000)
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"size must be a positive int, got {size!r}")
        params = dict(version=_VERSION, split=split, n=n, num_frames=num_frames,
                      frame_size=frame_size, seed=seed)
        if polarity != "fixed":              # only then: the existing caches keep their keys
            params["polarity"] = polarity
        arrays = cached_arrays("moving_digits", params,
                               lambda: generate(split, n, num_frames, frame_size, seed, polarity=polarity),
                               root, cache)
        self.x, self.y = torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["y"])
        self.split, self.input_size = split, (1, num_frames, frame_size, frame_size)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i].unsqueeze(0).float() / 255.0, int(self.y[i])


@register_dataset("moving_digits", modality="video", num_classes=8, input_size=(1, 8, 24, 24))
def moving_digits(split: str = "train", root: Optional[str] = None, **kwargs) -> MovingDigits:
    """MovingDigits: a digit moving in one of 8 directions over 8 frames of 24x24; label = direction."""
    return MovingDigits(split, root, **kwargs)


@register_dataset("flicker_digits", modality="video", num_classes=8, input_size=(1, 8, 24, 24))
def flicker_digits(split: str = "train", root: Optional[str] = None, **kwargs) -> MovingDigits:
    """MovingDigits with a random contrast polarity per frame: the direction is readable only after
    each frame is rectified (a stacked-frames 2D net's first, linear layer cannot)."""
    if "polarity" in kwargs:
        raise TypeError("flicker_digits fixes polarity='random'; use moving_digits for the other")
    return MovingDigits(split, root, polarity="random", **kwargs)
