"""CIFAR-10 from disk, in its python-pickle layout (``cifar-10-batches-py``; Krizhevsky 2009).

``root`` is the ``cifar-10-batches-py`` folder or its parent; it holds ``data_batch_1`` ..
``data_batch_5`` and ``test_batch``. Nothing is downloaded. The batches are pickles, so they are
read with an unpickler that only accepts the NumPy array types they contain; any other object in
the file is refused rather than executed.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .registry import register_dataset

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            d = _SafeUnpickler(f, encoding="bytes").load()
        raw, raw_labels = np.asarray(d[b"data"]), np.asarray(d[b"labels"])
    except Exception as e:
        raise ValueError(f"cannot read CIFAR-10 batch {path}: corrupt or not the python version "
                         f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    return _checked(path, raw, raw_labels)


def _checked(path: Path, raw: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 3, 32, 32) and int64 labels 0..9, or one ValueError naming the file: a cast
    would turn float pixels in [0, 1] into black images, and a label of -100 is skipped by the loss."""
    where = f"CIFAR-10 batch {path}"
    if raw.dtype != np.uint8:
        lo, hi = (float(raw.min()), float(raw.max())) if raw.size and raw.dtype.kind in "iuf" else (0, 0)
        if raw.dtype.kind not in "iu" or lo < 0 or hi > 255:
            raise ValueError(f"{where}: pixels are {raw.dtype} in [{lo:g}, {hi:g}], expected uint8 0..255")
    if raw.size % (3 * 32 * 32) or raw.size == 0:
        raise ValueError(f"{where}: {raw.size} pixel values are not a whole number of 3x32x32 images")
    data = raw.astype(np.uint8).reshape(-1, 3, 32, 32)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{where}: labels are {labels.dtype}, expected integers 0..9")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        bad = int(labels.min()) if labels.min() < 0 else int(labels.max())
        raise ValueError(f"{where}: label {bad} is outside 0..9")
    if len(labels) != len(data):
        raise ValueError(f"{where}: {len(labels)} labels for {len(data)} images")
    return data, labels.astype(np.int64)


def find_batches_dir(root) -> Path:
    root = Path(root).expanduser()
    for cand in (root, root / "cifar-10-batches-py"):
        if (cand / "test_batch").is_file() or (cand / "data_batch_1").is_file():
            return cand
    if not root.exists():
        raise FileNotFoundError(f"CIFAR-10 folder not found: {root}")
    raise FileNotFoundError(f"no CIFAR-10 python batches in {root} (expected data_batch_1..5 and "
                            "test_batch, from cifar-10-python.tar.gz)")


class CIFAR10(Dataset):
    """(x, y): x float (3, 32, 32) in [0, 1], y in 0..9. Shape: (3, 32, 32)."""

    num_classes = 10
    input_size = (3, 32, 32)
    modality = "image"
    mean, std = MEAN, STD

    def __init__(self, root, split: str = "train"):
        d = find_batches_dir(root)
        files = TRAIN_FILES if split == "train" else TEST_FILES
        missing = [f for f in files if not (d / f).is_file()]
        if missing:
            raise FileNotFoundError(f"CIFAR-10 folder {d} lacks {', '.join(missing)}")
        parts = [_read_batch(d / f) for f in files]
        self.data = torch.from_numpy(np.concatenate([p[0] for p in parts]))
        self.targets = torch.from_numpy(np.concatenate([p[1] for p in parts]))

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        return self.data[i].float().div_(255.0), int(self.targets[i])


@register_dataset("cifar10", modality="image", num_classes=10, input_size=(3, 32, 32), needs_root=True,
                  description="CIFAR-10 from its python-pickle batches (cifar-10-batches-py) on disk")
def cifar10(split: str = "train", root=None, **kwargs) -> CIFAR10:
    """CIFAR-10 from its python-pickle batches on disk (``--data-root``)."""
    if kwargs:
        raise TypeError(f"cifar10 takes no options, got {', '.join(kwargs)}")
    return CIFAR10(root, "train" if split == "train" else "test")
