"""An image folder (torchvision's ImageFolder): ``root/train/<class>/*.png`` and ``root/test/<class>/``
(or ``root/val/``). Images are read as RGB (``channels=1`` for grey), resized on the short side and
centre-cropped to ``size``, scaled to [0, 1]."""
from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from .registry import register_dataset

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class ImageFolderDataset(Dataset):
    """(x, y): x float (C, size, size) in [0, 1], y the class index (sorted folder names)."""

    modality = "image"

    def __init__(self, root, split: str = "train", size: int = 224, channels: int = 3):
        from torchvision.datasets import ImageFolder
        from torchvision.transforms import v2
        base = Path(root).expanduser()
        if not base.is_dir():
            raise FileNotFoundError(f"image folder not found: {base}")
        names = ["train"] if split == "train" else ["test", "val"]
        folder = next((base / n for n in names if (base / n).is_dir()), None)
        if folder is None:
            raise FileNotFoundError(f"{base} has no {' or '.join(names)} subfolder "
                                    "(expected root/train/<class>/... and root/test/<class>/...)")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        mode = "L" if channels == 1 else "RGB"
        tf = v2.Compose([v2.ToImage(), v2.Resize(size, antialias=True), v2.CenterCrop(size),
                         v2.ToDtype(torch.float32, scale=True)])
        try:
            self.folder = ImageFolder(str(folder), transform=tf, loader=lambda p: _open(p, mode))
        except (FileNotFoundError, RuntimeError) as e:
            raise FileNotFoundError(f"no images in {folder}: {str(e).splitlines()[0]}") from None
        self.classes = self.folder.classes
        self.num_classes = len(self.classes)
        self.input_size = (channels, size, size)
        self.mean = IMAGENET_MEAN if channels == 3 else (0.5,)
        self.std = IMAGENET_STD if channels == 3 else (0.5,)

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, i: int):
        return self.folder[i]


def _open(path: str, mode: str):
    from PIL import Image, UnidentifiedImageError
    try:
        with open(path, "rb") as f:
            return Image.open(f).convert(mode)
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"cannot read image {path}: {type(e).__name__}") from None


@register_dataset("imagefolder", modality="image", needs_root=True,
                  description="an image folder root/{train,test}/<class>/*.jpg (torchvision ImageFolder)")
def imagefolder(split: str = "train", root=None, size: int = 224, channels: int = 3) -> ImageFolderDataset:
    """An image folder ``root/{train,test}/<class>/`` read with torchvision's ImageFolder."""
    return ImageFolderDataset(root, split, int(size), int(channels))
