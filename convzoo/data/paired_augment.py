"""Augmentation applied alike to an image and its mask: random scale, crop (with padding) and flip.

The image is resized bilinearly, the mask by nearest neighbour (a class index must stay a class);
padding is 0 in the image and the ignore index in the mask, so padded pixels count nowhere. The
recipe of DeepLab (Chen et al. 2017, arXiv:1706.05587, Sec. 4: scale 0.5-2.0, crop, flip) and
torchvision's segmentation references.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .segmentation import IGNORE_INDEX

__all__ = ["PairedAugment", "resize_pair", "pad_pair"]


def resize_pair(image: torch.Tensor, mask: torch.Tensor, size: tuple[int, int]):
    """(C, H, W), (H, W) -> both at ``size``: bilinear image, nearest-neighbour mask."""
    img = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0]
    msk = F.interpolate(mask[None, None].float(), size=size, mode="nearest")[0, 0].to(mask.dtype)
    return img, msk


def pad_pair(image: torch.Tensor, mask: torch.Tensor, size: int):
    """Pad on the bottom/right to at least ``size`` x ``size``: 0 in the image, ignore in the mask."""
    ph, pw = max(0, size - image.shape[-2]), max(0, size - image.shape[-1])
    if ph or pw:
        image = F.pad(image, (0, pw, 0, ph), value=0.0)
        mask = F.pad(mask, (0, pw, 0, ph), value=IGNORE_INDEX)
    return image, mask


class PairedAugment:
    """``(image, mask) -> (image, mask)``: scale by s ~ U(``scale``), pad to ``crop`` and take a
    random ``crop`` x ``crop`` window, flip left-right with probability ``flip``. Same draw for both.
    Randomness from ``generator`` (else torch's global RNG, which the trainer seeds and checkpoints).
    Shape: (C, H, W), (H, W) -> (C, crop, crop), (crop, crop).
    """

    def __init__(self, crop: int, scale: tuple[float, float] = (0.5, 2.0), flip: float = 0.5,
                 generator: Optional[torch.Generator] = None):
        if not isinstance(crop, int) or isinstance(crop, bool) or crop < 1:
            raise ValueError(f"crop must be a positive int, got {crop!r}")
        lo, hi = scale
        if not 0 < lo <= hi:
            raise ValueError(f"scale must be (min, max) with 0 < min <= max, got {scale!r}")
        if not 0 <= flip <= 1:
            raise ValueError(f"flip must be a probability in [0, 1], got {flip!r}")
        self.crop, self.scale, self.flip, self.generator = crop, (float(lo), float(hi)), flip, generator

    def _rand(self) -> float:
        return float(torch.rand((), generator=self.generator))

    def __call__(self, image: torch.Tensor, mask: torch.Tensor):
        lo, hi = self.scale
        s = lo + (hi - lo) * self._rand()
        h, w = image.shape[-2:]
        size = (max(1, round(h * s)), max(1, round(w * s)))
        if size != (h, w):
            image, mask = resize_pair(image, mask, size)
        image, mask = pad_pair(image, mask, self.crop)
        top = int(self._rand() * (image.shape[-2] - self.crop + 1))
        left = int(self._rand() * (image.shape[-1] - self.crop + 1))
        image = image[:, top:top + self.crop, left:left + self.crop]
        mask = mask[top:top + self.crop, left:left + self.crop]
        if self._rand() < self.flip:
            image, mask = image.flip(-1), mask.flip(-1)
        return image.contiguous(), mask.contiguous()
