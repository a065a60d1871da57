"""``urbansound8k``: loader for UrbanSound8K (Salamon, Jacoby & Bello 2014) as it unpacks on disk.

Layout (the official archive)::

    root/metadata/UrbanSound8K.csv     slice_file_name,fsID,start,end,salience,fold,classID,class
    root/audio/fold1/ ... fold10/      <slice_file_name>.wav

Split as Dai et al. 2016 (arXiv:1610.00087): fold 10 is the test set, folds 1-9 train (``folds=``
picks others, e.g. for 10-fold cross-validation). Each clip is read with soundfile, mixed to mono,
brought to 8 kHz, padded or cut to 4 s (32000 samples) and standardised to mean 0 / variance 1.

UrbanSound8K's files come at many sample rates (44.1, 48, 96 kHz, ...). A file that is not at
``sample_rate`` is an error naming the file unless ``resample=True``, so nothing is resampled
silently; Dai et al. resample everything to 8 kHz, which ``resample=True`` does (polyphase filter).
"""
from __future__ import annotations

import csv
from math import gcd
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .registry import register_dataset
from .._extras import require

CSV_COLUMNS = ("slice_file_name", "fold", "classID", "class")


def read_audio(path: Path, sample_rate: int, resample: bool) -> np.ndarray:
    """Mono float32 waveform of ``path`` at ``sample_rate``; clear errors naming the file."""
    sf = require("soundfile", "audio", "reading WAV files")
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:   # soundfile raises LibsndfileError / RuntimeError for corrupt files
        raise ValueError(f"cannot read audio file {path}: {e}") from None
    x = x.mean(axis=1)
    if sr != sample_rate:
        if not resample:
            raise ValueError(f"{path} has sample rate {sr} Hz, expected {sample_rate} Hz; pass "
                             f"resample=True to resample it (Dai et al. resample UrbanSound8K to 8 kHz)")
        resample_poly = require("scipy.signal", "audio", "resampling").resample_poly
        g = gcd(sr, sample_rate)
        x = resample_poly(x, sample_rate // g, sr // g).astype(np.float32)
    return x


def inside(folder: Path, rel: str, listed_in: Path) -> Path:
    """``folder / rel`` resolved; a path that leaves ``folder`` (``../../x.wav``, absolute) is refused."""
    base = folder.resolve()
    p = (folder / rel).resolve()
    if not rel or p == base or base not in p.parents:
        raise ValueError(f"{listed_in}: path {rel!r} leaves {folder} (expected a file name inside it)")
    return p


def _read_rows(csv_path: Path) -> list[dict]:
    """The metadata rows with fold and classID as ints, checked (one ValueError naming the line)."""
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        missing_cols = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or ())]
        if missing_cols:
            raise ValueError(f"{csv_path} lacks columns {missing_cols} (has {reader.fieldnames})")
        raw = list(reader)
    if not raw:
        raise ValueError(f"{csv_path} has a header but no rows (expected one row per clip)")
    rows = []
    for line, r in enumerate(raw, start=2):
        try:
            fold, cls = int(r["fold"]), int(r["classID"])
        except (TypeError, ValueError):
            raise ValueError(f"{csv_path} line {line}: fold {r['fold']!r} and classID {r['classID']!r} must be "
                             f"integers") from None
        if not 1 <= fold <= 10 or not 0 <= cls <= 9:
            raise ValueError(f"{csv_path} line {line}: fold {fold} / classID {cls} outside 1..10 / 0..9")
        rows.append({**r, "fold": fold, "classID": cls})
    return rows


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad at the end or cut to ``length`` samples."""
    if len(x) >= length:
        return x[:length]
    return np.pad(x, (0, length - len(x)))


def standardize(x: np.ndarray) -> np.ndarray:
    std = x.std()
    return (x - x.mean()) / (std if std > 1e-8 else 1.0)


class UrbanSound8K(Dataset):
    """UrbanSound8K clips: item -> (float32 (1, 32000), classID 0..9).

    ``split="train"`` = folds 1-9, ``"test"`` = fold 10 (or pass ``folds``). Missing files are
    reported when the dataset is built; unreadable files and wrong sample rates when a clip is read.
    Shape: item -> ((1, length), int).
    """

    num_classes = 10
    modality = "audio"

    def __init__(self, root: str, split: str = "train", folds: Optional[Sequence[int]] = None,
                 sample_rate: int = 8000, length: int = 32000, resample: bool = False,
                 normalize: bool = True):
        self.root = Path(root).expanduser()
        csv_path = self.root / "metadata" / "UrbanSound8K.csv"
        if not csv_path.is_file():
            raise FileNotFoundError(f"UrbanSound8K metadata not found: {csv_path} (expected the official "
                                    "layout root/metadata/UrbanSound8K.csv and root/audio/fold1..fold10)")
        if split == "val":
            split = "test"
        if folds is None:
            if split not in ("train", "test"):
                raise ValueError(f"split must be 'train' or 'test', got {split!r}")
            folds = range(1, 10) if split == "train" else (10,)
        folds = set(int(f) for f in folds)
        if not folds <= set(range(1, 11)):
            raise ValueError(f"folds must be in 1..10, got {sorted(folds)}")
        rows = [r for r in _read_rows(csv_path) if r["fold"] in folds]
        if not rows:
            raise ValueError(f"{csv_path} lists no clips in folds {sorted(folds)}")
        self.files = [inside(self.root / "audio" / f"fold{r['fold']}", r["slice_file_name"], csv_path)
                      for r in rows]
        self.labels = [r["classID"] for r in rows]
        names = {int(r["classID"]): r["class"] for r in rows}
        self.classes = [names.get(i, str(i)) for i in range(10)]
        missing = [p for p in self.files if not p.is_file()]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise FileNotFoundError(f"UrbanSound8K: {len(missing)} audio file(s) listed in {csv_path} are "
                                    f"missing: {', '.join(map(str, missing[:3]))}{more}")
        self.sample_rate, self.length = sample_rate, length
        self.resample, self.normalize = resample, normalize
        self.split, self.folds, self.input_size = split, sorted(folds), (1, length)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        x = fit_length(read_audio(self.files[i], self.sample_rate, self.resample), self.length)
        if self.normalize:
            x = standardize(x)
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).unsqueeze(0), self.labels[i]


@register_dataset("urbansound8k", modality="audio", num_classes=10, input_size=(1, 32000), needs_root=True)
def urbansound8k(split: str = "train", root: Optional[str] = None, **kwargs) -> UrbanSound8K:
    """UrbanSound8K from disk (metadata CSV + fold1..fold10); fold 10 is the test fold (Dai et al.)."""
    if root is None:
        raise ValueError("urbansound8k is read from disk: pass root=<folder with metadata/ and audio/>")
    return UrbanSound8K(root, split, **kwargs)

