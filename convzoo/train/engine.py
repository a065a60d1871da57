"""The training loop: ``fit(model, train_set, test_set, TrainConfig(...), out_dir)`` -> report dict.

One epoch (:func:`convzoo.train.loop.train_one_epoch`): for each batch -> [resize] -> normalise ->
[mixup/CutMix] -> autocast forward -> cross-entropy (label smoothing) -> finite-loss check ->
backward -> [clip] -> optimizer step -> [EMA update]; then (:func:`~convzoo.train.loop.finish_epoch`)
the weights are checked for NaN/inf, evaluated on the test set, a line is logged to
``metrics.jsonl`` and a checkpoint written (rank 0 only); at the end the report
(:mod:`convzoo.train.report`).

Reproducible: the data order is a function of (seed, epoch) (``DistributedSampler.set_epoch``), the
learning rate a function of the step, and every RNG state is checkpointed at the end of each epoch,
so a run killed at any point and resumed ends with the same weights as an uninterrupted one
(CPU, ``deterministic=True``). The run folder is locked (:mod:`convzoo.train.lock`) for the whole run.
"""
from __future__ import annotations

import contextlib
import os
import random
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from . import distributed as D
from .batches import autocast, evaluate, prepare_batch, sample_input_size  # noqa: F401  (public here too)
from .checkpoint import CheckpointError, restore_run_state
from .config import TrainConfig
from .lock import run_lock
from .loop import TrainingDiverged, build_run, finish_epoch, train_one_epoch, wrap
from .report import final_step
from ..io import atomic_write_text, remove_stale_tmp
from ..runs.manifest import write_run_config

__all__ = ["fit", "evaluate", "check_fits", "build_optimizer", "DataMismatchError", "TrainingDiverged",
           "prepare_batch", "sample_input_size"]


class DataMismatchError(ValueError):
    """The dataset does not fit the model (modality, channels, dimensions or classes)."""


# ---------------------------------------------------------------------------------------- data fit
def _modality_of(model: nn.Module) -> Optional[str]:
    """The modality a model declares (``default_cfg["modality"]``), None for a plain module."""
    cfg = getattr(model, "default_cfg", None) or {}
    return cfg.get("modality") or getattr(model, "modality", None)


def _a(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def check_fits(model: nn.Module, dataset: Dataset, dataset_name: str = "dataset") -> None:
    """Raise :class:`DataMismatchError` (one line) when ``dataset`` cannot feed ``model``."""
    m_mod = _modality_of(model)
    d_mod = getattr(dataset, "modality", None)
    name = type(model).__name__
    if d_mod is not None and m_mod is not None and d_mod != m_mod:
        raise DataMismatchError(f"{name} is {_a(m_mod)} {m_mod} model but {dataset_name!r} is {d_mod} data; "
                                f"pick {_a(d_mod)} {d_mod} model (convzoo list --modality {d_mod})")
    if len(dataset) == 0:
        raise DataMismatchError(f"{dataset_name!r} is empty")
    x, _ = dataset[0]
    if not torch.is_tensor(x):
        raise DataMismatchError(f"{dataset_name!r} yields {type(x).__name__} samples, expected tensors")
    dims = getattr(model, "dims", x.dim() - 1)
    if x.dim() - 1 != dims:
        raise DataMismatchError(f"{name} expects {dims}-D inputs (C, {'x'.join('S' * dims)}) but "
                                f"{dataset_name!r} gives samples of shape {tuple(x.shape)}")
    in_chans = getattr(model, "in_chans", None)
    if in_chans is not None and x.shape[0] != in_chans:
        raise DataMismatchError(f"{name} expects {in_chans} input channels but {dataset_name!r} gives "
                                f"{x.shape[0]} (create the model with in_chans={x.shape[0]})")
    n_cls = getattr(dataset, "num_classes", None)
    m_cls = getattr(model, "num_classes", None)
    if n_cls is not None and m_cls is not None and m_cls != n_cls:
        raise DataMismatchError(f"{name} has {m_cls} outputs but {dataset_name!r} has {n_cls} classes "
                                f"(create the model with num_classes={n_cls})")


# --------------------------------------------------------------------------------------- optimizer
def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Weight decay on weights only; biases and norm parameters (1-D) are not decayed; frozen
    parameters left out; ``cfg.layer_decay`` gives each layer its ``lr_scale`` (train/finetune.py)."""
    if cfg.layer_decay is not None:
        from .finetune import param_groups
        groups = param_groups(model, cfg.weight_decay, cfg.layer_decay)
    else:
        decay, no_decay = [], []
        for p in model.parameters():
            if p.requires_grad:
                (no_decay if p.ndim <= 1 else decay).append(p)
        groups = [{"params": decay, "weight_decay": cfg.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    # EfficientNet: RMSProp decay 0.9, momentum 0.9, epsilon 1e-3 (Tan & Le 2019, Sec. 5.2).
    # NOTE: TF adds epsilon inside the square root, PyTorch outside; timm's RMSpropTF matches TF exactly.
    return torch.optim.RMSprop(groups, lr=cfg.lr, alpha=0.9, momentum=cfg.momentum, eps=1e-3)


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------------------------- fit
def fit(model: nn.Module, train_set: Dataset, test_set: Optional[Dataset], cfg: Optional[TrainConfig] = None,
        out_dir: Optional[str | os.PathLike] = None, progress: bool = True, *, resume: bool = False,
        run_info: Optional[dict[str, Any]] = None, dataset_name: str = "dataset",
        epoch_lines: Optional[bool] = None) -> dict[str, Any]:
    """Train ``model`` on ``train_set``, evaluate on ``test_set`` each epoch, return the report.

    ``out_dir`` (optional) receives ``config.json``, ``metrics.jsonl``, ``checkpoints/``,
    ``model.safetensors``, ``report.json`` and ``curves.png``; ``resume=True`` continues from its
    last checkpoint. ``run_info`` (model name, dataset, ...) is stored in ``config.json`` next to the
    config so ``convzoo eval`` can rebuild the model. Under torchrun the model is DDP-wrapped and
    only rank 0 writes files (and holds the folder's lock). The report has ``accuracy``, ``loss``
    (test set, EMA weights when ``ema_decay`` is set), ``params``, ``macs``, ``latency_ms``,
    ``epochs``, ``wall_time_s``. NaN/inf in the loss or the weights raises :class:`TrainingDiverged`
    and nothing non-finite is ever saved.

    ``progress`` draws the per-step bars; ``epoch_lines`` prints one line per epoch on stderr (loss,
    test accuracy), by default with the bars or whenever the run writes a folder, so that
    ``convzoo train --no-progress`` still says where a long run is.
    """
    if epoch_lines is None:
        epoch_lines = progress or out_dir is not None
    cfg = cfg or TrainConfig()
    t_start = time.perf_counter()
    if cfg.freeze is not None:
        from .finetune import apply_freeze
        apply_freeze(model, cfg.freeze)
    _seed_all(cfg.seed)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_filling = torch.utils.deterministic.fill_uninitialized_memory
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
        # deterministic mode also fills every new tensor with NaN (a debugging aid for code that reads
        # memory it never wrote); nothing here does, and the fills cost 10-17% of a small net's step
        torch.utils.deterministic.fill_uninitialized_memory = False
    device = D.resolve_device(cfg.device)
    dist_info = D.setup(device)
    out = Path(out_dir) if out_dir is not None else None
    locked = run_lock(out) if (out is not None and dist_info.is_main) else contextlib.nullcontext()
    try:
        with locked:
            return _fit(model, train_set, test_set, cfg, out, progress, resume, run_info or {},
                        dataset_name, device, dist_info, t_start, epoch_lines)
    finally:
        if torch.are_deterministic_algorithms_enabled() != was_deterministic:
            torch.use_deterministic_algorithms(was_deterministic)
        torch.utils.deterministic.fill_uninitialized_memory = was_filling
        D.cleanup()


def _check_settings(model, train_set, cfg, device, dist_info, dataset_name) -> None:
    """Settings that cannot work with this data or device fail here, before anything is written."""
    check_fits(model, train_set, dataset_name)
    from .tasks import task_of
    for what, task in (("model", task_of(model)), (f"dataset {dataset_name!r}", task_of(train_set))):
        if task != cfg.task:   # default: classification, what a plain module or dataset is
            raise DataMismatchError(f"the {what} is for {task} but the run's task is {cfg.task} "
                                    f"(pass --task {task} / TrainConfig(task={task!r}))")
    autocast(device, cfg.amp)
    if cfg.sync_bn and dist_info.enabled and device.type != "cuda":
        raise ValueError("--sync-bn needs CUDA: PyTorch's SyncBatchNorm has no CPU implementation "
                         "(on CPU, leave it off or use a model without BatchNorm)")
    num_classes = getattr(train_set, "num_classes", None) or getattr(model, "num_classes", None)
    if (cfg.mixup or cfg.cutmix or cfg.mixup_range) and not num_classes:
        raise ValueError("mixup/CutMix need the number of classes: give the dataset a num_classes attribute")
    if cfg.batch_size % dist_info.world_size:
        raise ValueError(f"batch_size {cfg.batch_size} must be divisible by the number of processes "
                         f"({dist_info.world_size})")


def _fit(model, train_set, test_set, cfg, out, progress, resume, run_info, dataset_name, device, dist_info,
         t_start, epoch_lines):
    _check_settings(model, train_set, cfg, device, dist_info, dataset_name)
    if cfg.limit_train:
        train_set = first_n(train_set, cfg.limit_train)
    if test_set is not None and cfg.limit_test:
        test_set = first_n(test_set, cfg.limit_test)
    run = build_run(model, train_set, test_set, cfg, out, device, dist_info, build_optimizer)
    if out is not None and dist_info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        for folder in (out, out / "checkpoints"):   # left by a process killed mid-write; we hold the lock
            remove_stale_tmp(folder)
    if resume:
        if out is None:
            raise ValueError("resume=True needs out_dir (the run folder to continue)")
        restore_run_state(run)
    elif out is not None and dist_info.is_main:
        write_run_config(out, run_info, cfg.to_dict())
        atomic_write_text(out / "metrics.jsonl", "")
    wrap(run)
    for epoch in range(run.start_epoch, cfg.epochs):
        row = train_one_epoch(run, epoch, progress=progress, keep_msg=_keep_msg)
        finish_epoch(run, epoch, row, progress=epoch_lines, keep_msg=_keep_msg)
    return final_step(run, run_info, dataset_name, t_start)


def _keep_msg(out: Optional[Path]) -> str:
    from .checkpoint import last_checkpoint
    if out is None:
        return "no checkpoint (no out_dir)"
    try:
        info = last_checkpoint(out)
    except CheckpointError:
        info = None
    if info is None:
        return "no epoch had finished, nothing to keep"
    return f"last good checkpoint kept: epoch {info['epoch']} in {out / 'checkpoints'}"


def first_n(ds: Dataset, n: int) -> Dataset:
    """The first ``n`` items of ``ds`` (``ds`` itself when it has no more), keeping its data-set facts
    (classes, input size, normalisation) so the trainer and the evaluators read the subset as the set."""
    if n >= len(ds):
        return ds
    sub = Subset(ds, range(n))
    for attr in ("num_classes", "input_size", "mean", "std", "modality", "classes"):
        if hasattr(ds, attr):
            setattr(sub, attr, getattr(ds, attr))
    return sub
