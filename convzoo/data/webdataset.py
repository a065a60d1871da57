"""Sharded data: samples streamed from tar shards (WebDataset), each rank and worker its own shards.

Large image and audio sets are read as a few hundred tar files rather than millions of small files
(the WebDataset format: each sample is the tar members sharing a key, ``000000042.png`` +
``000000042.cls``). :func:`write_shards` (``convzoo shard``) turns any (x, y) dataset into shards:
images whose values are exactly k/255 (what ImageFolder and PIL give) as lossless PNG, anything else
(waveforms, float images) as ``.npy``, so a sample read back equals the source bit for bit. Next to
the shards, ``<split>.json`` records each shard's sample count, the classes and the sample shape.

:class:`ShardDataset` (``--dataset webdataset --data-root 'shards/train-{000000..000009}.tar'``)
reads them with the ``webdataset`` library. Per epoch the shard order is a permutation drawn from
(seed, epoch); rank ``r`` of ``N`` takes every N-th shard of it and DataLoader worker ``w`` of ``W``
every W-th of those, so every shard is opened exactly once per epoch. Every rank yields the same
number of samples (what the smallest possible share of shards holds), so DDP's ranks step together.

Shape: ``x`` (C, H, W) float in [0, 1] for images, (C, T) for audio; ``y`` an int64 class index.
"""
from __future__ import annotations

import glob
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .._extras import require
from ..io import atomic_write, write_json
from .registry import register_dataset

KEY_DIGITS = 9


def _encode(x: torch.Tensor) -> tuple[str, bytes]:
    x = x.detach().cpu()
    if x.dtype == torch.float32 and x.dim() == 3 and x.shape[0] in (1, 3):
        k = torch.round(x * 255)
        if torch.equal(k.div(255), x) and k.min() >= 0 and k.max() <= 255:
            from PIL import Image
            arr = k.to(torch.uint8).permute(1, 2, 0).numpy()
            img = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
            buf = io.BytesIO()
            img.save(buf, format="PNG")
            return "png", buf.getvalue()
    buf = io.BytesIO()
    np.save(buf, x.numpy(), allow_pickle=False)
    return "npy", buf.getvalue()


def _decode(sample: dict) -> tuple[torch.Tensor, torch.Tensor]:
    if "png" in sample:
        from PIL import Image
        arr = np.asarray(Image.open(io.BytesIO(sample["png"])))
        x = torch.from_numpy(arr.copy())
        x = x.unsqueeze(0) if x.dim() == 2 else x.permute(2, 0, 1)
        x = x.float().div(255)
    elif "npy" in sample:
        x = torch.from_numpy(np.load(io.BytesIO(sample["npy"]), allow_pickle=False))
    else:
        raise ValueError(f"shard sample {sample.get('__key__')!r} in {sample.get('__url__')} has neither "
                         f".png nor .npy (members: {', '.join(k for k in sample if not k.startswith('_'))})")
    return x, torch.tensor(int(sample["cls"]), dtype=torch.long)


def write_shards(dataset, out: str | os.PathLike, split: str = "train", per_shard: int = 1000,
                 modality: Optional[str] = None) -> dict[str, Any]:
    """Write ``dataset``'s (x, y) samples to ``out/<split>-000000.tar`` ... and ``out/<split>.json``.

    Each tar is written to a temp file and renamed, so a killed run leaves no half shard under a
    shard's name. Member names are generated keys (``000000042.png``), never source file paths.
    """
    if per_shard < 1:
        raise ValueError(f"samples per shard must be >= 1, got {per_shard}")
    if split not in ("train", "test", "val"):
        raise ValueError(f"split must be train, test or val, got {split!r}")
    n = len(dataset)
    if n == 0:
        raise ValueError("the source dataset is empty: nothing to shard")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counts, shape = {}, None
    for s, start in enumerate(range(0, n, per_shard)):
        name = f"{split}-{s:06d}.tar"
        idx = range(start, min(n, start + per_shard))

        def write(tmp: str, idx=idx) -> None:
            nonlocal shape
            with tarfile.open(tmp, "w") as tar:
                for i in idx:
                    x, y = dataset[i]
                    shape = shape or tuple(x.shape)
                    ext, data = _encode(torch.as_tensor(x))
                    for suffix, payload in ((ext, data), ("cls", str(int(y)).encode())):
                        info = tarfile.TarInfo(f"{i:0{KEY_DIGITS}d}.{suffix}")
                        info.size, info.mtime, info.mode = len(payload), 0, 0o644
                        tar.addfile(info, io.BytesIO(payload))
        atomic_write(out / name, write)
        counts[name] = len(idx)
    meta = dict(split=split, samples=n, shards=counts, input_size=list(shape),
                num_classes=getattr(dataset, "num_classes", None),
                classes=list(getattr(dataset, "classes", []) or []),
                modality=modality or getattr(dataset, "modality", None) or
                ("image" if len(shape) == 3 else "audio" if len(shape) == 2 else None))
    write_json(out / f"{split}.json", meta)
    return meta


def expand(pattern: str, split: str = "train") -> list[Path]:
    """Shard paths of a brace pattern (``train-{000000..000009}.tar``), a glob or a folder.

    The pattern names the training shards; another split is every shard its ``<split>.json`` lists.
    """
    braceexpand = require("braceexpand", "data", "--dataset webdataset").braceexpand
    p = str(pattern)
    if Path(p).is_dir():
        paths = sorted(Path(p).glob(f"{split}-*.tar"))
    else:
        paths = [Path(q) for e in braceexpand(p) for q in (sorted(glob.glob(e)) or [e])]
        if split != "train" and paths:   # the other splits' shards sit next to these, in <split>.json
            index = paths[0].parent / f"{split}.json"
            if not index.is_file():
                raise FileNotFoundError(f"no {split} shards next to {pattern!r} ({index} is missing)")
            paths = [index.parent / name for name in json.loads(index.read_text())["shards"]]
    if not paths:
        raise FileNotFoundError(f"no shards match {pattern!r} (split {split})")
    missing = [str(q) for q in paths if not q.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} of {len(paths)} shards of {pattern!r} do not exist "
                                f"(first: {missing[0]})")
    return paths


class ShardDataset(IterableDataset):
    """(x, y) streamed from WebDataset shards written by :func:`write_shards` (see the module doc)."""

    def __init__(self, pattern: str, split: str = "train"):
        self.paths = expand(pattern, split)
        metas = {}
        for q in self.paths:
            mp = q.parent / f"{split}.json"
            if mp not in metas:
                if not mp.is_file():
                    raise FileNotFoundError(f"{mp} is missing: shards must come with their index "
                                            "(write them with convzoo shard)")
                metas[mp] = json.loads(mp.read_text())
            if q.name not in metas[mp]["shards"]:
                raise ValueError(f"{q} is not listed in {mp}")
        meta = next(iter(metas.values()))
        self.counts = [metas[q.parent / f"{split}.json"]["shards"][q.name] for q in self.paths]
        self.num_classes = meta.get("num_classes")
        self.classes = meta.get("classes") or None
        self.input_size = tuple(meta["input_size"])
        self.modality = meta.get("modality")
        self.rank, self.world_size, self.seed, self.epoch = 0, 1, 0, 0
        self.opened: list[str] = []         # shards this process opened (tests look at it)

    def set_distributed(self, rank: int, world_size: int, seed: int = 0) -> None:
        if world_size > len(self.paths):
            raise ValueError(f"{world_size} processes need at least as many shards, got {len(self.paths)}")
        self.rank, self.world_size, self.seed = rank, world_size, seed

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        """Samples per rank: what the rank with the fewest (smallest) shards would hold."""
        if self.world_size == 1:
            return sum(self.counts)
        k = len(self.paths) // self.world_size
        return sum(sorted(self.counts)[:k])

    def __getitem__(self, i: int):
        if i != 0:
            raise TypeError("a sharded dataset is streamed: only its first sample can be looked at")
        return next(self._samples([self.paths[0]], peek=True))

    def shards_for(self, worker: int = 0, workers: int = 1) -> list[Path]:
        """This rank's (and worker's) shards this epoch."""
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        order = [self.paths[i] for i in torch.randperm(len(self.paths), generator=g).tolist()]
        return order[self.rank::self.world_size][worker::workers]

    def _quotas(self, workers: int) -> list[int]:
        """Samples each worker yields: all of its shards', less the rank's excess over ``len(self)``,
        taken from the last workers (the same on every rank, so the ranks step together)."""
        count = dict(zip(self.paths, self.counts))
        avail = [sum(count[q] for q in self.shards_for(w, workers)) for w in range(workers)]
        excess = sum(avail) - len(self)
        for w in reversed(range(workers)):
            cut = min(excess, avail[w])
            avail[w], excess = avail[w] - cut, excess - cut
        return avail

    def _samples(self, paths: list[Path], peek: bool = False) -> Iterator:
        wds = require("webdataset", "data", "--dataset webdataset")
        log = os.environ.get("CONVZOO_SHARD_LOG")      # test hook: which process opened which shard
        for q in paths:
            if not peek:          # a look at the first sample (shape checks) is not an epoch's read
                self.opened.append(q.name)
            if log and not peek:
                from ..io import append_jsonl
                append_jsonl(log, dict(rank=self.rank, epoch=self.epoch, shard=q.name, pid=os.getpid()))
            ds = wds.WebDataset(str(q), shardshuffle=False, nodesplitter=lambda s: s,
                                workersplitter=lambda s: s, empty_check=False)
            samples = iter(ds)
            while True:
                try:
                    sample = next(samples)
                except StopIteration:
                    break
                except (tarfile.TarError, OSError, EOFError) as e:    # a shard cut short or not a tar
                    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
                    raise ValueError(f"{q}: truncated or damaged shard ({first}); write it again with "
                                     f"convzoo shard") from None
                yield _decode(sample)

    def __iter__(self):
        info = get_worker_info()
        w, W = (info.id, info.num_workers) if info is not None else (0, 1)
        quota = self._quotas(W)[w]
        for n, item in enumerate(self._samples(self.shards_for(w, W))):
            if n >= quota:
                return
            yield item


@register_dataset("webdataset", modality="image", needs_root=True,
                  description="WebDataset tar shards written by convzoo shard (images or audio): "
                              "--data-root 'dir/train-{000000..000009}.tar'")
def webdataset(split: str = "train", root=None) -> ShardDataset:
    """Tar shards (``convzoo shard``); ``root`` a brace pattern, a glob or the shards' folder."""
    return ShardDataset(root, split)


__all__ = ["ShardDataset", "write_shards", "expand"]
