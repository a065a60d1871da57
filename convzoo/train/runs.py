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


def build_run_model(name: str, dataset, model_kwargs: Optional[dict] = None, seed: Optional[int] = None,
                task: str = "classification") -> nn.Module:
    """``create_model(name, num_classes=<dataset's>, in_chans=<dataset's>, **model_kwargs)``;
    explicit ``model_kwargs`` win (and are then checked against the data by the trainer). With
    ``seed`` the initial weights are a function of the seed alone. With ``task="segmentation"`` a
    classification backbone becomes ``create_segmenter(name, **model_kwargs)`` (``head``,
    ``output_stride``, ``upsample`` among them); a registered segmenter is built as it is.
    ``model_kwargs["compression"]`` (written by ``convzoo compress``) re-applies the factorised
    architecture so the run's weights load."""
    import torch
    from convzoo import create_model
    from convzoo.registry import get_pretrained_cfg
    if task == "segmentation" and get_pretrained_cfg(name).get("task", "classification") != "segmentation":
        from convzoo.models.segmentation import create_segmenter as create_model  # noqa: N813
    if seed is not None:
        torch.manual_seed(seed)
    kw = dict(model_kwargs or {})
    spec = kw.pop("compression", None)   # a `convzoo compress` run: its factorised convs, rebuilt below
    if getattr(dataset, "num_classes", None) is not None:
        kw.setdefault("num_classes", dataset.num_classes)
    if dataset is not None:   # None: the caller gave num_classes and in_chans (a recorded run)
        kw.setdefault("in_chans", sample_shape(dataset)[0])
    try:
        model = create_model(name, **kw)
    except TypeError as e:
        raise ValueError(f"model {name!r} does not accept these options: {str(e).splitlines()[0]}") from None
    if spec is not None:
        from convzoo.compress import apply_spec
        apply_spec(model, spec)
    return model


def default_out_dir(*name_parts: str, base: str = "runs") -> Path:
    """The one rule for a new run folder: ``runs/<part>-<part>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3`` ...
    when it exists): ``train`` names it after model and dataset, the other jobs after themselves."""
    stem = "-".join(name_parts) + "-" + time.strftime("%Y%m%d-%H%M%S")
    p, i = Path(base) / stem, 1
    while p.exists():
        i += 1
        p = Path(base) / f"{stem}-{i}"
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


def preprocess_info(dataset, image_size: Optional[int]) -> dict[str, Any]:
    """How a run's images reach the model, recorded so ``predict`` and ``export`` need no data flags:
    the dataset's sample shape, its normalisation and the size the trainer resizes to."""
    shape = sample_shape(dataset)
    mean, std = getattr(dataset, "mean", None), getattr(dataset, "std", None)
    return {"input_size": list(shape), "image_size": image_size,
            "mean": list(mean) if mean is not None else None, "std": list(std) if std is not None else None,
            "num_classes": getattr(dataset, "num_classes", None)}


def load_run(run_dir, *, weights: Optional[str] = None) -> tuple[nn.Module, dict[str, Any]]:
    """The trained model of a run folder, in eval mode, and the run's config.

    Built from ``config.json`` alone when the run recorded its preprocessing (``num_classes`` and
    input size); older runs rebuild their test split to learn them. The weights come from the run's
    ``model.safetensors`` (never from the file it started from); the class names, when the data had
    them, become ``default_cfg["label_names"]``.
    """
    from convzoo.weights import load_weights
    cfg = read_run_config(run_dir)
    path = Path(weights) if weights else Path(run_dir) / "model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no trained weights ({path.name}): the run has not finished; "
                                f"finish it with convzoo train --resume {run_dir}")
    pre = cfg.get("preprocess")
    kw = dict(cfg.get("model_kwargs") or {})
    task = (cfg.get("train") or {}).get("task", "classification")
    if pre and pre.get("num_classes") is not None:
        kw.setdefault("num_classes", pre["num_classes"])
        kw.setdefault("in_chans", pre["input_size"][0])
        model = build_run_model(cfg["model"], None, kw, task=task)
    else:
        (test_set,) = build_data(cfg["dataset"], cfg.get("data_root"), cfg.get("data_kwargs"), splits=("test",))
        model = build_run_model(cfg["model"], test_set, kw, task=task)
    load_weights(model, path, layout="convzoo" if not weights else None, allow_new_head=False)
    names = cfg.get("class_names")
    if names and isinstance(getattr(model, "default_cfg", None), dict):
        model.default_cfg["label_names"] = list(names)
    return model.eval(), cfg


def is_run_dir(path) -> bool:
    """Whether ``path`` is a run folder written by ``convzoo train`` (its config.json has the run's model,
    dataset and train settings; a hub folder's config.json has an architecture instead)."""
    p = Path(path)
    if not (p / "config.json").is_file():
        return False
    try:
        cfg = json.loads((p / "config.json").read_text())
    except (ValueError, OSError):
        return False
    return isinstance(cfg, dict) and {"model", "dataset", "train"} <= set(cfg)


def run_input_size(cfg: dict[str, Any]) -> Optional[tuple]:
    """The input size the run's model saw (C, *S): the sample shape, resized to its eval image size."""
    pre = cfg.get("preprocess") or {}
    shape = pre.get("input_size")
    if not shape:
        return None
    size = pre.get("image_size")
    return (shape[0], size, size) if size and len(shape) == 3 else tuple(shape)


def run_test_inputs(cfg: dict[str, Any], n: int = 16):
    """The first ``n`` test inputs of a run, preprocessed as its trainer did (None when the data is
    no longer there): what export checks parity on."""
    import torch
    from convzoo.train.batches import prepare_batch
    try:
        (test_set,) = build_data(cfg["dataset"], cfg.get("data_root"), cfg.get("data_kwargs"), splits=("test",))
    except (FileNotFoundError, ValueError, OSError):
        return None
    xs = torch.stack([test_set[i][0] for i in range(min(n, len(test_set)))]).float()
    pre = cfg.get("preprocess") or {}
    stats = (torch.tensor(pre["mean"]), torch.tensor(pre["std"])) if pre.get("mean") else None
    return prepare_batch(xs, pre.get("image_size"), stats)
