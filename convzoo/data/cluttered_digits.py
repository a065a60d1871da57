"""``cluttered_digits``: scikit-learn's 8x8 digits, shifted on a 16x16 canvas among clutter and noise.

A harder task built from the same real scans as :mod:`convzoo.data.digits` (no download), so that
nets which differ only in their convolution block stop tying at 98 %: each image is one digit at a
random place and contrast on a 16x16 canvas, with ``clutter`` 4x4 fragments cut from *other* digits
scattered over it and additive noise. The label is the whole digit. The net must find the digit
(translation), tell it from fragments that look like its strokes (context: a receptive field larger
than a fragment) and ignore the noise, which separates the blocks by capacity and receptive field.

The train and test images come from disjoint scans (digits' fixed stratified 1437/360 split, see
:func:`convzoo.data.digits.split_indices`); clutter for a split is cut from that split's scans only.

Deterministic: image ``i`` of a split depends only on (seed, split, i), drawn with NumPy's PCG64
seeded from those, so the set is the same on every machine and whatever ``size`` asks for. Generation
takes well under a second (0.1 s for 1200 images), so nothing is cached.

``fresh=True`` makes the training split a stream: epoch ``e`` (``set_epoch``, called by the trainer)
holds images ``e * size .. (e + 1) * size - 1`` of the split's sequence, so no image is seen twice and a
run of E epochs sees ``E * size`` of them for the compute of ``size`` fixed ones. Epoch 0 is the fixed
set. The test split is fixed either way (its ``fresh`` is recorded and changes nothing), so a run's
test set rebuilds from its recorded options.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from .digits import _load_csv, split_indices
from .registry import register_dataset

CANVAS = 16
_DIGIT, _FRAG = 8, 4
_VERSION = 1
# Statistics of the default train split (1500 images, clutter 3, noise 0.15); the trainer normalises.
MEAN, STD = (0.1570,), (0.2381,)


def generate(split: str, n: int, seed: int = 0, clutter: int = 3, noise: float = 0.15, start: int = 0):
    """``(x float32 (n, 1, 16, 16) in [0, 1], y int64 (n,))``: images ``start .. start + n - 1`` of the
    split's sequence; image ``i`` depends on (seed, split, i)."""
    images, labels = _load_csv()
    tr, te = split_indices(labels)
    keep = te if split == "test" else tr
    scans, classes = images[keep] / 16.0, labels[keep]
    split_id = 1 if split == "test" else 0
    x = np.zeros((n, 1, CANVAS, CANVAS), np.float32)
    y = np.empty(n, np.int64)
    span = CANVAS - _DIGIT + 1
    for i in range(n):
        rng = np.random.default_rng([_VERSION, seed, split_id, start + i])
        j = int(rng.integers(len(scans)))
        canvas = x[i, 0]
        for _ in range(clutter):           # fragments first: the digit is drawn over them
            src = scans[rng.integers(len(scans))]
            r, c = rng.integers(0, _DIGIT - _FRAG + 1, size=2)
            pr, pc = rng.integers(0, CANVAS - _FRAG + 1, size=2)
            frag = rng.uniform(0.5, 1.0) * src[r:r + _FRAG, c:c + _FRAG]
            np.maximum(canvas[pr:pr + _FRAG, pc:pc + _FRAG], frag, out=canvas[pr:pr + _FRAG, pc:pc + _FRAG])
        pr, pc = rng.integers(0, span, size=2)
        patch = canvas[pr:pr + _DIGIT, pc:pc + _DIGIT]
        np.maximum(patch, rng.uniform(0.6, 1.0) * scans[j], out=patch)
        canvas += rng.normal(0.0, noise, size=canvas.shape).astype(np.float32)
        y[i] = classes[j]
    np.clip(x, 0.0, 1.0, out=x)
    return x, y


class ClutteredDigits(Dataset):
    """(x, y) with x a float tensor (1, 16, 16) in [0, 1] and y the digit 0..9.

    Shape: item -> ((1, 16, 16) float32, int).
    """

    num_classes = 10
    input_size = (1, CANVAS, CANVAS)
    modality = "image"
    mean, std = MEAN, STD

    def __init__(self, split: str = "train", size: Optional[int] = None, seed: int = 0, clutter: int = 3,
                 noise: float = 0.15, fresh: bool = False):
        if split not in ("train", "test", "val"):
            raise ValueError(f"split must be 'train', 'test' or 'val', got {split!r}")
        n = size if size is not None else (1500 if split == "train" else 2000)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"size must be a positive int, got {size!r}")
        if not isinstance(clutter, int) or clutter < 0:
            raise ValueError(f"clutter must be an int >= 0, got {clutter!r}")
        if not 0 <= noise <= 1:
            raise ValueError(f"noise must be in [0, 1], got {noise!r}")
        if not isinstance(fresh, bool):
            raise ValueError(f"fresh must be True or False, got {fresh!r}")
        split = "test" if split == "val" else split
        self._draw = (split, n, seed, clutter, noise)
        self.fresh, self.epoch = fresh and split == "train", 0
        self._set(0)

    def _set(self, start: int) -> None:
        split, n, seed, clutter, noise = self._draw
        x, y = generate(split, n, seed, clutter, noise, start)
        self.images, self.targets = torch.from_numpy(x), torch.from_numpy(y)

    def set_epoch(self, epoch: int) -> None:
        """A fresh training set draws epoch ``epoch``'s images (the trainer calls this before each
        epoch); a fixed one, or the test split, stays as it is."""
        if self.fresh and epoch != self.epoch:
            self.epoch = epoch
            self._set(epoch * self._draw[1])

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        return self.images[i], int(self.targets[i])


@register_dataset("cluttered_digits", modality="image", num_classes=10, input_size=(1, CANVAS, CANVAS),
                  description="digits shifted on a 16x16 canvas among fragments of other digits, with noise")
def cluttered_digits(split: str = "train", root=None, size: Optional[int] = None, seed: int = 0,
                     clutter: int = 3, noise: float = 0.15, fresh: bool = False, **kwargs) -> ClutteredDigits:
    """Digits shifted on a 16x16 canvas among 4x4 fragments of other digits, with noise (built in);
    ``fresh``: new training images every epoch (module docstring)."""
    kwargs.pop("image_size", None)       # the compare/train commands pass their resize side
    if kwargs:
        raise TypeError(f"cluttered_digits() got unexpected options {sorted(kwargs)}; "
                        "expected size, seed, clutter, noise, fresh")
    return ClutteredDigits(split, size=size, seed=seed, clutter=clutter, noise=noise, fresh=fresh)
