"""An image folder (torchvision's ImageFolder layout): ``root/train/<class>/*.png`` and
``root/test/<class>/`` (or ``root/val/``). Images are read as RGB (``channels=1`` for grey), resized
on the short side and centre-cropped to ``size``, scaled to [0, 1].

What is read, and what is refused:

- the class list is the sorted class folders of the **train** split (or ``classes=``), for every
  split: a test split that lacks a class keeps the train indices, a test class the train split does
  not have is an error (a per-split list would shift every label after the gap);
- names starting with "." (``.ipynb_checkpoints``, ``.DS_Store``) are skipped;
- symlinks are followed, each folder once (a link loop cannot multiply the samples);
- only regular files are opened (a FIFO named ``x.png`` would block forever): anything else is an error;
- PIL's decompression-bomb check and truncated files end in our ValueError naming the file.
"""
from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch.utils.data import Dataset

from .registry import register_dataset

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _split_folder(base: Path, split: str) -> Path:
    names = ["train"] if split == "train" else ["test", "val"]
    folder = next((base / n for n in names if (base / n).is_dir()), None)
    if folder is None:
        raise FileNotFoundError(f"{base} has no {' or '.join(names)} subfolder "
                                "(expected root/train/<class>/... and root/test/<class>/...)")
    return folder


def class_folders(folder: Path) -> list[str]:
    """Sorted names of the visible sub-folders of ``folder`` (symlinks to folders count)."""
    return sorted(e.name for e in os.scandir(folder) if not e.name.startswith(".") and e.is_dir())


def image_files(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, following symlinks but each folder only once;
    hidden names skipped; a non-regular file with an image name is an error naming it."""
    seen, files, stack = set(), [], [folder]
    while stack:
        d = stack.pop()
        st = os.stat(d)
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        for e in sorted(os.scandir(d), key=lambda e: e.name, reverse=True):
            if e.name.startswith("."):
                continue
            try:
                mode = os.stat(e.path).st_mode       # follows links; a dangling one raises
            except OSError:
                raise ValueError(f"cannot read {e.path}: broken symlink") from None
            if stat.S_ISDIR(mode):
                stack.append(Path(e.path))
            elif e.name.lower().endswith(IMG_EXTENSIONS):
                if not stat.S_ISREG(mode):
                    raise ValueError(f"{e.path} is not a regular file (expected an image file)")
                files.append(Path(e.path))
    return sorted(files)


class ImageFolderDataset(Dataset):
    """(x, y): x float (C, size, size) in [0, 1], y the class index in the train split's list.

    Shape: item -> ((C, size, size), int).
    """

    modality = "image"

    def __init__(self, root, split: str = "train", size: int = 224, channels: int = 3,
                 classes: Optional[Sequence[str]] = None):
        from torchvision.transforms import v2
        base = Path(root).expanduser()
        if not base.is_dir():
            raise FileNotFoundError(f"image folder not found: {base}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 8192:
            raise ValueError(f"size must be an integer in [1, 8192], got {size!r}")
        folder = _split_folder(base, split)
        if classes is None:   # the train split's classes, for every split
            train = base / "train"
            classes = class_folders(train if train.is_dir() else folder)
        self.classes = list(classes)
        here = class_folders(folder)
        extra = [c for c in here if c not in self.classes]
        if extra:
            raise ValueError(f"{folder} has class folder(s) {extra} that the class list lacks "
                             f"({len(self.classes)} classes from the train split: {self.classes[:5]}...)")
        self.samples = [(p, i) for i, c in enumerate(self.classes) if c in here for p in image_files(folder / c)]
        if not self.samples:
            raise FileNotFoundError(f"no images in {folder} (expected {folder}/<class>/*.png, "
                                    f"extensions {', '.join(IMG_EXTENSIONS)})")
        self.mode = "L" if channels == 1 else "RGB"
        self.transform = v2.Compose([v2.ToImage(), v2.Resize(size, antialias=True), v2.CenterCrop(size),
                                     v2.ToDtype(torch.float32, scale=True)])
        self.num_classes = len(self.classes)
        self.input_size = (channels, size, size)
        self.mean = IMAGENET_MEAN if channels == 3 else (0.5,)
        self.std = IMAGENET_STD if channels == 3 else (0.5,)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        path, label = self.samples[i]
        return self.transform(open_image(path, self.mode)), label


def open_image(path, mode: str):
    """A PIL image of ``path`` in ``mode``; every way of failing is one ValueError naming the file."""
    from PIL import Image
    p = str(path)
    if not stat.S_ISREG(os.stat(p).st_mode):
        raise ValueError(f"{p} is not a regular file (expected an image file)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open(p, "rb") as f:
                img = Image.open(f)
                img.load()
                return _to_8bit(img).convert(mode)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ValueError(f"cannot read image {p}: refused as a possible decompression bomb "
                         f"({str(e).splitlines()[0]})") from None
    except (OSError, SyntaxError, ValueError) as e:   # UnidentifiedImageError, truncated files
        raise ValueError(f"cannot read image {p}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                         ) from None


def _to_8bit(img):
    """16- and 32-bit integer images scaled to 8 bits (PIL's own ``convert`` clips them at 255, which
    turns a 16-bit photo white); other modes (CMYK, palette, alpha) are left to ``convert``."""
    if img.mode not in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        return img
    import numpy as np
    from PIL import Image
    a = np.asarray(img).astype(np.float64)
    top = 65535.0 if img.mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
    return Image.fromarray(np.clip(np.rint(a * (255.0 / top)), 0, 255).astype(np.uint8), "L")


@register_dataset("imagefolder", modality="image", needs_root=True,
                  description="an image folder root/{train,test}/<class>/*.jpg (torchvision ImageFolder)")
def imagefolder(split: str = "train", root=None, size: int = 224, channels: int = 3,
                classes: Optional[Sequence[str]] = None) -> ImageFolderDataset:
    """An image folder ``root/{train,test}/<class>/``; the class list comes from the train split."""
    return ImageFolderDataset(root, split, int(size), int(channels), classes)
