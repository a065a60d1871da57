"""scikit-learn's bundled handwritten digits (UCI optdigits test set): real 8x8 scans, no download.

1797 grey images of 10 classes, 16 intensity levels. The split is fixed: stratified, 360 test images
(each class's share rounded by largest remainder), drawn with NumPy's PCG64 seeded 0, so it is the same
on every machine (1437 train, 360 test). The CSV file that ships inside scikit-learn is read directly
(``sklearn/datasets/data/digits.csv.gz``): importing scikit-learn itself would add seconds to start-up.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import torch
from torch.utils.data import Dataset

from .registry import register_dataset

TEST_SIZE = 360
SPLIT_SEED = 0
# Per-channel statistics of the train split (after scaling to [0, 1]); the trainer normalises with them.
MEAN, STD = (0.3055,), (0.3761,)


def _load_csv() -> tuple[np.ndarray, np.ndarray]:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the digits dataset ships with scikit-learn: pip install scikit-learn")
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"scikit-learn's digits file is missing: {path}")
    data = np.loadtxt(path, delimiter=",", dtype=np.float32)
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)


def split_indices(labels: np.ndarray, test_size: int = TEST_SIZE, seed: int = SPLIT_SEED):
    """Stratified (train, test) index arrays, both sorted; class c gets its share of ``test_size``."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * test_size / len(labels)
    n_test = np.floor(quota).astype(int)
    order = np.argsort(-(quota - n_test), kind="stable")
    n_test[order[:test_size - n_test.sum()]] += 1
    test = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:k]
                                   for c, k in zip(classes, n_test)]))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, test


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
        if split not in ("train", "test", "val"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        images, labels = _load_csv()
        tr, te = split_indices(labels)
        keep = tr if split == "train" else te        # "val" is the held-out test split
        self.images = (torch.from_numpy(images[keep]) / 16.0).unsqueeze(1).contiguous()
        self.targets = torch.from_numpy(labels[keep])

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
