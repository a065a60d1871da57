"""scikit-learn's bundled handwritten digits (UCI optdigits test set): real 8x8 scans, no download.

1797 grey images of 10 classes, 16 intensity levels. The split is fixed: a stratified 80/20 split
with ``random_state=0`` (1437 train, 360 test), the same on every machine.
"""
from __future__ import annotations

import torch
from torch.utils.data import Dataset

from .registry import register_dataset

TEST_SIZE = 360
SPLIT_SEED = 0
# Per-channel statistics of the train split (after scaling to [0, 1]); the trainer normalises with them.
MEAN, STD = (0.3054,), (0.3761,)


class DigitsDataset(Dataset):
    """(x, y) with x a float tensor (1, 8, 8) in [0, 1] and y an int in 0..9.

    Attributes ``num_classes`` (10), ``input_size`` ((1, 8, 8)), ``mean``/``std`` (train split) and
    ``modality`` ("image") tell the trainer how to use it.
    """

    num_classes = 10
    input_size = (1, 8, 8)
    modality = "image"
    mean, std = MEAN, STD

    def __init__(self, split: str = "train"):
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        if split not in ("train", "test", "val"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        d = load_digits()
        idx = list(range(len(d.target)))
        tr, te = train_test_split(idx, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=d.target)
        keep = tr if split == "train" else te        # "val" is the held-out test split
        images = torch.tensor(d.images[keep], dtype=torch.float32) / 16.0
        self.images = images.unsqueeze(1).contiguous()
        self.targets = torch.tensor(d.target[keep], dtype=torch.long)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        return self.images[i], int(self.targets[i])


@register_dataset("digits", modality="image", num_classes=10, input_size=(1, 8, 8),
                  description="scikit-learn handwritten digits: 8x8 grey scans, 10 classes, 1437/360 split")
def digits(split: str = "train", root=None, **kwargs) -> DigitsDataset:
    """scikit-learn handwritten digits: 8x8 grey scans, 10 classes (built in, no download)."""
    if kwargs:
        raise TypeError(f"digits takes no options, got {', '.join(kwargs)}")
    return DigitsDataset(split)
