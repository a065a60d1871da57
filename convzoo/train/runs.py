"""Run folders: build the model and data a run describes, so ``train``, ``--resume`` and ``eval``
rebuild exactly the same thing from ``config.json``."""
from __future__ import annotations

import ast
import json
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from torch import nn

DEFAULT_MODEL = {"digits": "variant_conv"}   # a sensible small default per built-in dataset


def parse_kv(items: Optional[Sequence[str]], what: str = "option") -> dict[str, Any]:
    """["depth=3", "norm=None", "widths=(16,32)"] -> {"depth": 3, "norm": None, "widths": (16, 32)}."""
    out: dict[str, Any] = {}
    for item in items or ():
        if "=" not in item:
            raise ValueError(f"{what} must look like KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        if v.lower() in ("none", "null"):
            out[k.strip()] = None
            continue
        try:
            out[k.strip()] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            out[k.strip()] = v
    return out


def build_data(dataset: str, root: Optional[str] = None, data_kwargs: Optional[dict] = None,
               splits: Sequence[str] = ("train", "test")):
    """The datasets for ``splits`` of registered dataset ``dataset`` (unknown names suggest close ones)."""
    from convzoo.data import dataset_info, get_dataset
    dataset_info(dataset)                              # unknown name -> ValueError with suggestions
    out = []
    for split in splits:
        try:
            out.append(get_dataset(dataset, split, root=root, **(data_kwargs or {})))
        except TypeError as e:
            raise ValueError(f"dataset {dataset!r}: {str(e).splitlines()[0]}") from None
    return out


def sample_shape(dataset) -> tuple:
    x, _ = dataset[0]
    return tuple(x.shape)


def build_model(name: str, dataset, model_kwargs: Optional[dict] = None, seed: Optional[int] = None) -> nn.Module:
    """``create_model(name, num_classes=<dataset's>, in_chans=<dataset's>, **model_kwargs)``;
    explicit ``model_kwargs`` win (and are then checked against the data by the trainer). With
    ``seed`` the initial weights are a function of the seed alone. ``model_kwargs["compression"]``
    (written by ``convzoo compress``) re-applies the factorised architecture so the run's weights load."""
    import torch
    from convzoo import create_model
    if seed is not None:
        torch.manual_seed(seed)
    kw = dict(model_kwargs or {})
    spec = kw.pop("compression", None)   # a `convzoo compress` run: its factorised convs, rebuilt below
    if getattr(dataset, "num_classes", None) is not None:
        kw.setdefault("num_classes", dataset.num_classes)
    kw.setdefault("in_chans", sample_shape(dataset)[0])
    try:
        model = create_model(name, **kw)
    except TypeError as e:
        raise ValueError(f"model {name!r} does not accept these options: {str(e).splitlines()[0]}") from None
    if spec is not None:
        from convzoo.compress import apply_spec
        apply_spec(model, spec)
    return model


def default_out_dir(model: str, dataset: str, base: str = "runs") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    p = Path(base) / f"{model}-{dataset}-{stamp}"
    i = 1
    while p.exists():
        i += 1
        p = Path(base) / f"{model}-{dataset}-{stamp}-{i}"
    return p


def read_run_config(run_dir) -> dict[str, Any]:
    p = Path(run_dir) / "config.json"
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"run folder not found: {run_dir}")
    if not p.is_file():
        raise FileNotFoundError(f"{run_dir} is not a convzoo run folder (no config.json)")
    try:
        cfg = json.loads(p.read_text())
        cfg["model"], cfg["dataset"], cfg["train"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"corrupt run config {p}") from None
    return cfg
