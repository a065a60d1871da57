"""A run folder of ``convzoo train`` (or ``convzoo compress``): its model, config, data and report.

    config.json --DataSpec.from_run_config--> data
                --build_run_model----------> model <-- model.safetensors
    report.json ----------------------------> report

``train``, ``--resume``, ``eval``, ``deploy``, ``quantize`` and ``compress`` rebuild exactly the
same model from ``config.json`` through :func:`build_run_model`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from torch import nn

from .data import DEFAULT_MODEL, DataSpec, build_data, sample_shape
from .manifest import read_report, read_run_config

WEIGHTS = "model.safetensors"


def build_run_model(name: str, dataset, model_kwargs: Optional[dict] = None, seed: Optional[int] = None,
                    task: str = "classification") -> nn.Module:
    """``create_model(name, num_classes=<dataset's>, in_chans=<dataset's>, **model_kwargs)``;
    explicit ``model_kwargs`` win (and are then checked against the data by the trainer). With
    ``seed`` the initial weights are a function of the seed alone. With ``task="segmentation"`` a
    classification backbone becomes ``create_segmenter(name, **model_kwargs)`` (``head``,
    ``output_stride``, ``upsample`` among them); a registered segmenter is built as it is.
    ``model_kwargs["compression"]`` (written by ``convzoo compress``) re-applies the factorised
    architecture so the run's weights load. ``dataset=None``: the caller gives num_classes and in_chans."""
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
    if dataset is not None:
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


@dataclass
class Run:
    """A run folder loaded: the trained ``model`` (eval mode), its ``config`` (config.json), its
    ``data`` (:class:`DataSpec`) and its ``report`` (report.json; ``{}`` while unfinished)."""
    path: Path
    model: nn.Module
    config: dict[str, Any]
    data: DataSpec
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.data.task

    @property
    def model_name(self) -> str:
        return self.config["model"]

    def splits(self, *names: str) -> list:
        """The run's datasets of ``names`` ("train", "test"), built as the trainer built them."""
        return self.data.build(names)


def load_run(run_dir, *, weights: Optional[str] = None) -> Run:
    """The run in ``run_dir`` with its trained weights (``weights``: another file of the same model).

    Built from ``config.json`` alone when the run recorded its preprocessing; older runs build their
    test split to learn classes and channels. The class names become ``default_cfg["label_names"]``
    and the input size the run's model saw ``default_cfg["input_size"]``.
    """
    from convzoo.weights import load_weights
    cfg = read_run_config(run_dir)
    path = Path(weights) if weights else Path(run_dir) / WEIGHTS
    if not path.is_file():
        if weights:
            raise FileNotFoundError(f"weights file not found: {weights}")
        raise FileNotFoundError(f"{run_dir} has no trained weights ({WEIGHTS}): the run has not finished; "
                                f"finish it with convzoo train --resume {run_dir}")
    data = DataSpec.from_run_config(cfg)
    kw = dict(cfg.get("model_kwargs") or {})
    if data.num_classes is not None and data.input_size:
        kw.setdefault("num_classes", data.num_classes)
        kw.setdefault("in_chans", data.input_size[0])
        model = build_run_model(cfg["model"], None, kw, task=data.task)
    else:
        (test_set,) = data.build(("test",))
        model = build_run_model(cfg["model"], test_set, kw, task=data.task)
    load_weights(model, path, layout="convzoo" if not weights else None, allow_new_head=False)
    dcfg = getattr(model, "default_cfg", None)
    if isinstance(dcfg, dict):
        if data.class_names:
            dcfg["label_names"] = list(data.class_names)
        if data.model_input_size():
            dcfg["input_size"] = data.model_input_size()
    return Run(Path(run_dir), model.eval(), cfg, data, read_report(run_dir) or {})


def run_test_inputs(data: DataSpec, n: int = 16):
    """The first ``n`` test inputs of a run's data, prepared as its trainer prepared them (None when the
    data is no longer there): what export checks parity on."""
    import torch

    from convzoo.train.batches import norm_stats, prepare_batch
    try:
        (test_set,) = data.build(("test",))
    except (FileNotFoundError, ValueError, OSError):
        return None
    xs = torch.stack([test_set[i][0] for i in range(min(n, len(test_set)))]).float()
    return prepare_batch(xs, data.image_size, norm_stats(test_set, torch.device("cpu")))


__all__ = ["Run", "load_run", "build_run_model", "default_out_dir", "run_test_inputs", "DEFAULT_MODEL",
           "WEIGHTS", "build_data"]
