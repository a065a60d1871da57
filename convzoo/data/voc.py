"""``voc``: a Pascal VOC segmentation folder read from disk (Everingham et al. 2010, the devkit layout).

    root/JPEGImages/<id>.jpg                  RGB images
    root/SegmentationClass/<id>.png           palette PNGs: the index is the class, 255 = void (ignore)
    root/ImageSets/Segmentation/{train,val}.txt   one <id> per line

``split="train"`` reads ``train.txt`` with :class:`~convzoo.data.paired_augment.PairedAugment` (scale
0.5-2.0, ``crop`` x ``crop``, flip); ``"val"``/``"test"`` read ``val.txt`` and scale each image so its
longer side is ``crop``, padding the rest (mask: ignore). NOTE: VOC's benchmark scores full-size
images; a fixed size lets samples batch, and the padding is ignored by loss and metrics.
Bad data is refused with one line naming the file: a split file that is missing, empty or lists ids
without files, an id that would leave ``root``, a mask whose size differs from its image, a mask
value outside ``[0, num_classes)`` other than 255.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from .paired_augment import PairedAugment, pad_pair, resize_pair
from .registry import register_dataset
from .segmentation import VOC_CLASSES, check_mask, load_mask_png

__all__ = ["VOCSegmentation", "read_split"]

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def read_split(root: Path, split: str) -> list[str]:
    """The ids of ``ImageSets/Segmentation/<split>.txt``, each checked to stay inside ``root`` and to
    have its image and mask."""
    f = root / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not f.is_file():
        raise ValueError(f"VOC split file not found: {f} (expected root/ImageSets/Segmentation/{split}.txt)")
    ids = [ln.strip() for ln in f.read_text().splitlines() if ln.strip()]
    if not ids:
        raise ValueError(f"VOC split file {f} is empty: expected one image id per line")
    base = root.resolve()
    for i in ids:
        for sub, ext in (("JPEGImages", ".jpg"), ("SegmentationClass", ".png")):
            p = (root / sub / f"{i}{ext}").resolve()
            if base not in p.parents or os.path.sep in i or "/" in i:
                raise ValueError(f"VOC id {i!r} in {f} points outside {root} (ids are plain file names)")
            if not p.is_file():
                raise ValueError(f"VOC split {f} lists {i!r} but {root / sub / (i + ext)} does not exist")
    return ids


class VOCSegmentation(Dataset):
    """(image (3, crop, crop) float32 in [0, 1], mask (crop, crop) int64) from a VOC-layout folder.

    Shape: item -> ((3, crop, crop) float32, (crop, crop) int64).
    """

    modality = "image"
    task = "segmentation"
    mean, std = IMAGENET_MEAN, IMAGENET_STD

    def __init__(self, root: str, split: str = "train", crop: int = 512, num_classes: int = 21,
                 augment: Optional[bool] = None):
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or not 1 <= num_classes <= 255:
            raise ValueError(f"num_classes must be an int in 1..255, got {num_classes!r}")
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise ValueError(f"VOC root folder not found: {self.root}")
        self.split = "train" if split == "train" else "val"
        self.ids = read_split(self.root, self.split)
        self.num_classes, self.crop = num_classes, crop
        self.classes = VOC_CLASSES if num_classes == 21 else tuple(str(c) for c in range(num_classes))
        self.input_size = (3, crop, crop)
        use = (self.split == "train") if augment is None else augment
        self.augment = PairedAugment(crop) if use else None

    def __len__(self) -> int:
        return len(self.ids)

    def load(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample ``i`` as stored: (3, H, W) in [0, 1] and (H, W), checked."""
        from PIL import Image
        name = self.ids[i]
        img_path = self.root / "JPEGImages" / f"{name}.jpg"
        with Image.open(img_path) as im:
            image = torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)
        mask_path = self.root / "SegmentationClass" / f"{name}.png"
        mask = load_mask_png(mask_path)
        check_mask(mask, image.shape[-2:], self.num_classes, str(mask_path))
        return image.contiguous(), mask

    def __getitem__(self, i: int):
        image, mask = self.load(i)
        if self.augment is not None:
            return self.augment(image, mask)
        h, w = image.shape[-2:]
        s = self.crop / max(h, w)
        image, mask = resize_pair(image, mask, (max(1, round(h * s)), max(1, round(w * s))))
        return pad_pair(image, mask, self.crop)


@register_dataset("voc", modality="image", num_classes=21, needs_root=True,
                  description="Pascal VOC segmentation folder (JPEGImages, SegmentationClass, ImageSets)")
def voc(split: str = "train", root: Optional[str] = None, crop: int = 512, num_classes: int = 21,
        augment: Optional[bool] = None, **kwargs) -> VOCSegmentation:
    """A Pascal VOC segmentation folder on disk (21 classes, 255 = ignore)."""
    kwargs.pop("image_size", None)
    if kwargs:
        raise TypeError(f"voc() got unexpected options {sorted(kwargs)}; expected crop, num_classes, augment")
    if root is None:
        raise ValueError("dataset 'voc' is read from disk: pass its folder (root=... / --data-root)")
    return VOCSegmentation(root, split, crop, num_classes, augment)
