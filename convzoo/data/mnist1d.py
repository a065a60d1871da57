"""``mnist1d``: MNIST-1D (Greydanus 2020, "Scaling down Deep Learning", arXiv:2011.14439).

Built with the ``mnist1d`` package's own generator (``mnist1d.data.make_dataset`` with its default
arguments: 5000 sequences of length 40, seed 42), never its download path, and split as the paper
does: the first 4000 for training, the last 1000 for test. The generator reseeds NumPy's and
Python's global RNGs; we restore them afterwards so building the dataset has no side effects.
"""
from __future__ import annotations

import random
from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from ._cache import cached_arrays
from .registry import register_dataset
from .._extras import require

_VERSION = 1


def generate(num_samples: int = 5000, seed: int = 42) -> dict[str, np.ndarray]:
    """The package's dataset: ``{"x", "y", "x_test", "y_test"}`` (float32 / int64)."""
    m1d = require("mnist1d.data", "data", "the MNIST-1D dataset")
    get_dataset_args, make_dataset = m1d.get_dataset_args, m1d.make_dataset
    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {"x": d["x"].astype(np.float32), "y": d["y"].astype(np.int64),
            "x_test": d["x_test"].astype(np.float32), "y_test": d["y_test"].astype(np.int64)}


class MNIST1D(Dataset):
    """MNIST-1D: item -> (float32 (1, 40), digit 0..9).

    ``num_samples`` (default 5000 = the paper's 4000/1000) sets how many the generator makes;
    ``size`` keeps only the first ``size`` of the split (small subsets for tests).
    Shape: item -> ((1, 40), int).
    """

    num_classes = 10
    modality = "audio"   # a 1D signal: the raw-waveform nets take it (after adapting conv1)

    def __init__(self, split: str = "train", root: Optional[str] = None, size: Optional[int] = None,
                 num_samples: int = 5000, seed: int = 42, cache: bool = True):
        if split == "val":
            split = "test"
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        params = dict(version=_VERSION, num_samples=num_samples, seed=seed)
        arrays = cached_arrays("mnist1d", params, lambda: generate(num_samples, seed), root, cache)
        x, y = (arrays["x"], arrays["y"]) if split == "train" else (arrays["x_test"], arrays["y_test"])
        if size is not None:
            if not isinstance(size, int) or not 1 <= size <= len(y):
                raise ValueError(f"size must be an int in [1, {len(y)}] for the {split} split, got {size!r}")
            x, y = x[:size], y[:size]
        self.x = torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(1)   # (N, 40) -> (N, 1, 40)
        self.y = torch.from_numpy(np.ascontiguousarray(y))
        self.split, self.input_size = split, (1, x.shape[-1])

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], int(self.y[i])


@register_dataset("mnist1d", modality="audio", num_classes=10, input_size=(1, 40))
def mnist1d(split: str = "train", root: Optional[str] = None, **kwargs) -> MNIST1D:
    """MNIST-1D (Greydanus 2020) from the mnist1d package's generator: 4000 train / 1000 test, length 40."""
    return MNIST1D(split, root, **kwargs)
