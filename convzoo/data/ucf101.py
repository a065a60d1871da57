"""``ucf101``: loader for UCF101 (Soomro, Zamir & Shah 2012, arXiv:1212.0402) as it unpacks on disk.

Layout (the official archives UCF101.rar and UCF101TrainTestSplits-RecognitionTask.zip)::

    root/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi   ...   (101 class folders of .avi)
    root/ucfTrainTestlist/classInd.txt       "1 ApplyEyeMakeup"          (1-based)
    root/ucfTrainTestlist/trainlist01.txt    "ApplyEyeMakeup/v_..._g08_c01.avi 1"
    root/ucfTrainTestlist/testlist01.txt     "ApplyEyeMakeup/v_..._g01_c01.avi"

``split_id`` 1-3 picks the official train/test list. Videos are decoded with PyAV; a clip of
``num_frames`` consecutive frames (C3D / R(2+1)D use 16) is taken at a random start for training and
at the centre for test, resized to 128 x 171 and cropped to 112 x 112 (random crop for training,
centre crop for test), as Tran et al. 2015 do. Item: float32 (3, T, 112, 112) in [0, 1].
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .registry import register_dataset
from .._extras import require


def read_video(path: Path) -> np.ndarray:
    """All frames of ``path`` as uint8 RGB (T, H, W, 3); clear errors naming the file."""
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    try:
        av = require("av", "video", "decoding UCF101 clips")
    except ImportError as e:   # pragma: no cover - av is a dependency
        raise ImportError("reading UCF101 videos needs PyAV: pip install av") from e
    try:
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except Exception as e:     # av.error.InvalidDataError and friends
        raise ValueError(f"cannot read video file {path}: {e}") from None
    if not frames:
        raise ValueError(f"cannot read video file {path}: it has no video frames")
    return np.stack(frames)


def _read_list(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise FileNotFoundError(f"UCF101 split list not found: {path} (expected the official "
                                "ucfTrainTestlist/ folder: classInd.txt, trainlist0N.txt, testlist0N.txt)")
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def _read_classes(path: Path) -> list[str]:
    """classInd.txt ("1 ApplyEyeMakeup" per line, 1-based) -> class names in index order."""
    try:
        pairs = sorted((int(i), n) for i, n in _read_list(path))
    except ValueError:
        raise ValueError(f"{path}: expected lines 'INDEX CLASSNAME'") from None
    if not pairs:
        raise ValueError(f"{path} lists no classes")
    if [i for i, _ in pairs] != list(range(1, len(pairs) + 1)):
        raise ValueError(f"{path}: class indices must run 1..{len(pairs)}")
    return [n for _, n in pairs]


def _inside(root: Path, rel: str, listed_in: Path) -> Path:
    """``root / rel`` resolved; a listed path that leaves ``root`` is refused."""
    base = root.resolve()
    p = (root / rel).resolve()
    if base not in p.parents:
        raise ValueError(f"{listed_in}: path {rel!r} leaves {root} (expected CLASS/v_....avi inside it)")
    return p


class UCF101(Dataset):
    """UCF101 clips from disk: item -> (float32 (3, num_frames, crop, crop), class index 0..100).

    Missing videos are reported when the dataset is built, unreadable ones when a clip is read.
    Shape: item -> ((3, T, crop, crop), int).
    """

    modality = "video"

    def __init__(self, root: str, split: str = "train", split_id: int = 1, num_frames: int = 16,
                 resize: tuple = (128, 171), crop: int = 112, splits_dir: Optional[str] = None,
                 transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None):
        self.root = Path(root).expanduser()
        lists = Path(splits_dir).expanduser() if splits_dir else self.root / "ucfTrainTestlist"
        if split == "val":
            split = "test"
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if split_id not in (1, 2, 3):
            raise ValueError(f"split_id must be 1, 2 or 3 (the official splits), got {split_id!r}")
        self.classes = _read_classes(lists / "classInd.txt")
        index = {name: i for i, name in enumerate(self.classes)}
        entries = _read_list(lists / f"{split}list0{split_id}.txt")
        if not entries:
            raise ValueError(f"{lists / f'{split}list0{split_id}.txt'} lists no videos")
        self.files, self.labels = [], []
        for entry in entries:
            rel = entry[0]
            cls = rel.split("/")[0]
            if cls not in index:
                raise ValueError(f"{lists / f'{split}list0{split_id}.txt'}: class folder {cls!r} of {rel!r} "
                                 f"is not in classInd.txt")
            self.files.append(_inside(self.root, rel, lists / f"{split}list0{split_id}.txt"))
            self.labels.append(index[cls])
        missing = [p for p in self.files if not p.is_file()]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise FileNotFoundError(f"UCF101: {len(missing)} video(s) of the {split} list are missing: "
                                    f"{', '.join(map(str, missing[:3]))}{more}")
        self.num_classes = len(self.classes)
        self.split, self.num_frames, self.resize, self.crop = split, num_frames, tuple(resize), crop
        self.transform = transform
        self.input_size = (3, num_frames, crop, crop)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        video = read_video(self.files[i])                     # (T, H, W, 3) uint8
        t = len(video)
        if t < self.num_frames:                               # short video: loop it
            video = np.concatenate([video] * (-(-self.num_frames // t)))
            t = len(video)
        train = self.split == "train"
        start = int(torch.randint(t - self.num_frames + 1, ()).item()) if train else (t - self.num_frames) // 2
        clip = torch.from_numpy(video[start:start + self.num_frames]).permute(3, 0, 1, 2).float() / 255
        clip = F.interpolate(clip, size=self.resize, mode="bilinear", align_corners=False)  # (3, T, h, w)
        h, w = clip.shape[-2:]
        if train:
            y0 = int(torch.randint(h - self.crop + 1, ()).item())
            x0 = int(torch.randint(w - self.crop + 1, ()).item())
        else:
            y0, x0 = (h - self.crop) // 2, (w - self.crop) // 2
        clip = clip[..., y0:y0 + self.crop, x0:x0 + self.crop].contiguous()
        if self.transform is not None:
            clip = self.transform(clip)
        return clip, self.labels[i]


@register_dataset("ucf101", modality="video", num_classes=101, input_size=(3, 16, 112, 112), needs_root=True)
def ucf101(split: str = "train", root: Optional[str] = None, **kwargs) -> UCF101:
    """UCF101 from disk (class folders of .avi + official split lists), 16-frame 112x112 clips."""
    if root is None:
        raise ValueError("ucf101 is read from disk: pass root=<folder with class folders and ucfTrainTestlist/>")
    return UCF101(root, split, **kwargs)
