"""Dataset registry: ``register_dataset``, ``get_dataset``, ``list_datasets``.

A dataset builder is ``fn(split="train"|"test", root=None, **kwargs) -> torch.utils.data.Dataset``
decorated with ``@register_dataset("name", modality=..., num_classes=..., input_size=...)``. Modules
under :mod:`convzoo.data` are imported on first use. Each built dataset should expose
``num_classes`` and ``input_size`` (C, *S) attributes so trainers can check the model fits.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..suggest import did_you_mean


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    builder: Callable[..., Any]
    modality: str                      # "image", "audio", "video", "sequence"
    num_classes: Optional[int] = None
    input_size: Optional[tuple] = None  # (C, *S) of one sample
    needs_root: bool = False            # True for real datasets read from disk
    description: str = ""
    extra: dict = field(default_factory=dict)


_DATASETS: dict[str, DatasetInfo] = {}
_IMPORTED = False


def register_dataset(name: str, *, modality: str, num_classes: Optional[int] = None,
                     input_size: Optional[tuple] = None, needs_root: bool = False,
                     description: str = ""):
    def deco(fn):
        if name in _DATASETS and _DATASETS[name].builder is not fn:
            raise ValueError(f"dataset {name!r} is registered twice")
        _DATASETS[name] = DatasetInfo(name, fn, modality, num_classes, input_size, needs_root,
                                      description or (fn.__doc__ or "").strip().split("\n")[0])
        return fn
    return deco


def _import_all() -> None:
    global _IMPORTED
    if _IMPORTED:
        return
    _IMPORTED = True
    import convzoo.data as pkg
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_") and info.name != "registry":
            importlib.import_module(f"{pkg.__name__}.{info.name}")


def list_datasets() -> list[str]:
    _import_all()
    return sorted(_DATASETS)


def dataset_info(name: str) -> DatasetInfo:
    _import_all()
    if name not in _DATASETS:
        raise ValueError(f"unknown dataset {name!r}{did_you_mean(name, _DATASETS)} "
                         f"(known: {', '.join(sorted(_DATASETS))})")
    return _DATASETS[name]


def get_dataset(name: str, split: str = "train", root: Optional[str] = None, **kwargs):
    info = dataset_info(name)
    if info.needs_root and root is None:
        raise ValueError(f"dataset {name!r} is read from disk: pass its folder (root=... / --data-root)")
    if split not in ("train", "test", "val"):
        raise ValueError(f"split must be 'train', 'test' or 'val', got {split!r}")
    kw = dict(kwargs)
    if root is not None:
        kw["root"] = root
    return info.builder(split=split, **kw)
