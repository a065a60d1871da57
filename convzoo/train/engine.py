"""The training loop: ``fit(model, train_set, test_set, TrainConfig(...), out_dir)`` -> report dict.

One epoch: for each batch -> [resize] -> normalise -> [mixup/CutMix] -> autocast forward ->
cross-entropy (label smoothing) -> backward -> [clip] -> optimizer step -> [EMA update]; then
evaluate on the test set, log a line to ``metrics.jsonl`` and checkpoint (rank 0 only).

Reproducible: the data order is a function of (seed, epoch) (``DistributedSampler.set_epoch``), the
learning rate a function of the step, and every RNG state is checkpointed at the end of each epoch,
so a run killed at any point and resumed ends with the same weights as an uninterrupted one
(CPU, ``deterministic=True``).
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset, Subset

from . import distributed as D
from .augment import AugmentedDataset, eval_image_size, mix_batch, resize_batch, set_dropout, stage_settings
from .checkpoint import CheckpointError, load_checkpoint, rng_state, save_checkpoint, save_weights, set_rng_state
from .config import TrainConfig
from .ema import ModelEma
from ..analysis.cost import count_macs, count_params, measure_latency_ms
from ..io import append_jsonl, read_jsonl, write_json
from .report import plot_curves
from .schedule import lr_at


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf; the last good checkpoint is kept."""


class DataMismatchError(ValueError):
    """The dataset does not fit the model (modality, channels, dimensions or classes)."""


# ---------------------------------------------------------------------------------------- data fit

def _macs_or_none(model: nn.Module, input_size) -> Optional[int]:
    try:
        return count_macs(model, input_size)
    except Exception:  # a profiler gap must not sink a finished training run
        return None

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


def _norm_stats(dataset: Dataset, device: torch.device):
    mean, std = getattr(dataset, "mean", None), getattr(dataset, "std", None)
    if mean is None or std is None:
        return None
    return (torch.tensor(mean, dtype=torch.float32, device=device),
            torch.tensor(std, dtype=torch.float32, device=device))


def prepare_batch(x: torch.Tensor, size: Optional[int], stats) -> torch.Tensor:
    """[resize] -> normalise with the dataset's per-channel mean/std (when it has them)."""
    x = resize_batch(x.float(), size)
    if stats is not None:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        x = (x - stats[0].view(shape)) / stats[1].view(shape)
    return x


def sample_input_size(dataset: Dataset, size: Optional[int] = None) -> tuple:
    """(C, *S) of one sample, with images resized to ``size``."""
    x, _ = dataset[0]
    shape = tuple(x.shape)
    if size is not None and len(shape) == 3:
        shape = (shape[0], size, size)
    return shape


# ---------------------------------------------------------------------------------------- evaluate
@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, *, batch_size: int = 256, image_size: Optional[int] = None,
             device: Optional[torch.device] = None, amp: str = "none", num_workers: int = 0,
             progress: bool = False) -> dict[str, float]:
    """Top-1 accuracy and mean cross-entropy (no label smoothing) of ``model`` on ``dataset``."""
    from tqdm import tqdm
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    stats = _norm_stats(dataset, device)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    correct, total, loss_sum = 0, 0, 0.0
    for x, y in tqdm(loader, desc="eval", leave=False, disable=not progress, file=sys.stderr):
        x, y = prepare_batch(x.to(device), image_size, stats), y.to(device)
        with _autocast(device, amp):
            logits = model(x)
        logits = logits.float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        total += y.numel()
    model.train(was_training)
    return {"accuracy": correct / max(total, 1), "loss": loss_sum / max(total, 1), "samples": total}


def _autocast(device: torch.device, amp: str):
    if amp == "none":
        return torch.autocast(device.type, enabled=False)
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("amp='fp16' needs CUDA; use amp='bf16' on CPU")
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


# --------------------------------------------------------------------------------------- optimizer
def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Weight decay on weights only; biases and norm parameters (1-D) are not decayed."""
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
        run_info: Optional[dict[str, Any]] = None, dataset_name: str = "dataset") -> dict[str, Any]:
    """Train ``model`` on ``train_set``, evaluate on ``test_set`` each epoch, return the report.

    ``out_dir`` (optional) receives ``config.json``, ``metrics.jsonl``, ``checkpoints/``,
    ``model.safetensors``, ``report.json`` and ``curves.png``; ``resume=True`` continues from its
    last checkpoint. ``run_info`` (model name, dataset, ...) is stored in ``config.json`` next to the
    config so ``convzoo eval`` can rebuild the model. Under torchrun the model is DDP-wrapped and
    only rank 0 writes files. The report has ``accuracy``, ``loss`` (test set, EMA weights when
    ``ema_decay`` is set), ``params``, ``macs``, ``latency_ms``, ``epochs``, ``wall_time_s``.
    """
    cfg = cfg or TrainConfig()
    t_start = time.perf_counter()
    _seed_all(cfg.seed)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
    device = D.resolve_device(cfg.device)
    dist_info = D.setup(device)
    out = Path(out_dir) if out_dir is not None else None
    try:
        return _fit(model, train_set, test_set, cfg, out, progress, resume, run_info or {}, dataset_name,
                    device, dist_info, t_start)
    finally:
        if torch.are_deterministic_algorithms_enabled() != was_deterministic:
            torch.use_deterministic_algorithms(was_deterministic)
        D.cleanup()


def _fit(model, train_set, test_set, cfg, out, progress, resume, run_info, dataset_name, device, dist_info,
         t_start):
    from tqdm import tqdm
    main = dist_info.is_main
    check_fits(model, train_set, dataset_name)
    # settings that cannot work on this device fail here, before anything is written
    _autocast(device, cfg.amp)
    if cfg.sync_bn and dist_info.enabled and device.type != "cuda":
        raise ValueError("--sync-bn needs CUDA: PyTorch's SyncBatchNorm has no CPU implementation "
                         "(on CPU, leave it off or use a model without BatchNorm)")
    if cfg.limit_train:
        train_set = _limit(train_set, cfg.limit_train)
    if test_set is not None and cfg.limit_test:
        test_set = _limit(test_set, cfg.limit_test)
    num_classes = getattr(train_set, "num_classes", None) or getattr(model, "num_classes", None)
    if (cfg.mixup or cfg.cutmix or cfg.mixup_range) and not num_classes:
        raise ValueError("mixup/CutMix need the number of classes: give the dataset a num_classes attribute")
    if cfg.batch_size % dist_info.world_size:
        raise ValueError(f"batch_size {cfg.batch_size} must be divisible by the number of processes "
                         f"({dist_info.world_size})")
    uses_randaug = cfg.randaugment is not None or cfg.randaug_range is not None
    data = AugmentedDataset(train_set) if uses_randaug else train_set
    # Shuffling through DistributedSampler also in one process: the order is a function of
    # (seed, epoch), and rank r of N gets every N-th sample of the same permutation, so N processes
    # see exactly the global batches one process sees.
    # A streamed dataset (tar shards) splits itself: each rank reads its own shards.
    streamed = isinstance(data, IterableDataset)
    if streamed:
        data.set_distributed(dist_info.rank, dist_info.world_size, cfg.seed)
    sampler = data if streamed else DistributedSampler(
        data, num_replicas=dist_info.world_size, rank=dist_info.rank, shuffle=True, seed=cfg.seed,
        drop_last=False)
    per_rank = cfg.batch_size // dist_info.world_size
    loader = DataLoader(data, batch_size=per_rank, sampler=None if streamed else sampler,
                        num_workers=cfg.num_workers, drop_last=len(sampler) > per_rank)
    steps_per_epoch = len(loader)
    total_steps = steps_per_epoch * cfg.epochs
    stats = _norm_stats(train_set, device)

    model.to(device)
    optimizer = build_optimizer(model, cfg)
    ema = ModelEma(model, cfg.ema_decay) if cfg.ema_decay else None
    scaler = torch.amp.GradScaler("cuda") if (cfg.amp == "fp16" and device.type == "cuda") else None

    start_epoch, step, best = 0, 0, 0.0
    if out is not None and main:
        out.mkdir(parents=True, exist_ok=True)
    if resume:
        if out is None:
            raise ValueError("resume=True needs out_dir (the run folder to continue)")
        start_epoch, state = load_checkpoint(out, model)
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None:
            if "ema" not in state:
                raise CheckpointError(f"checkpoint in {out} has no EMA state but ema_decay is set")
            ema.load_state_dict(state["ema"])
        if scaler is not None and "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        step, best = int(state["step"]), float(state.get("best_accuracy", 0.0))
        set_rng_state(state["rng"])
        if main:  # drop log lines of the epoch that was cut short
            rows = [r for r in read_jsonl(out / "metrics.jsonl") if r.get("epoch", 0) <= start_epoch]
            from ..io import atomic_write_text
            atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    elif out is not None and main:
        write_json(out / "config.json", {**run_info, "train": cfg.to_dict()})
        (out / "metrics.jsonl").write_text("")

    train_model = D.wrap_model(model, device, dist_info, cfg.sync_bn)
    net = D.unwrap(train_model)           # after SyncBN conversion
    if ema is not None and cfg.sync_bn and dist_info.enabled:
        ema.module = nn.SyncBatchNorm.convert_sync_batchnorm(ema.module)
    eval_size = eval_image_size(cfg)
    sleep = float(os.environ.get("CONVZOO_STEP_SLEEP", "0"))   # test hook: slow steps down
    last_eval: dict[str, float] = {}
    epoch_time = 0.0

    for epoch in range(start_epoch, cfg.epochs):
        t_epoch = time.perf_counter()
        st = stage_settings(cfg, epoch)
        sampler.set_epoch(epoch)
        set_dropout(net, st.dropout)
        if isinstance(data, AugmentedDataset):
            data.magnitude = st.randaugment
        train_model.train()
        loss_sum = torch.zeros((), dtype=torch.float64)
        correct, seen = 0, 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, file=sys.stderr,
                   disable=not (progress and main), dynamic_ncols=True)
        for x, y in bar:
            lr = lr_at(step, base_lr=cfg.lr, total_steps=total_steps, steps_per_epoch=steps_per_epoch,
                       schedule=cfg.schedule, warmup_epochs=cfg.warmup_epochs, min_lr=cfg.min_lr,
                       step_decay=cfg.step_decay, step_epochs=cfg.step_epochs)
            for g in optimizer.param_groups:
                g["lr"] = lr
            x, y = prepare_batch(x.to(device), st.image_size, stats), y.to(device)
            target = y
            if st.mixup > 0 or cfg.cutmix > 0:
                x, target = mix_batch(x, y, num_classes, st.mixup, cfg.cutmix)
            with _autocast(device, cfg.amp):
                logits = train_model(x)
            loss = F.cross_entropy(logits.float(), target, label_smoothing=cfg.label_smoothing)
            bad = torch.tensor(0.0 if torch.isfinite(loss) else 1.0)
            if dist_info.enabled:
                D.all_reduce_sum(bad)
            if bad.item() > 0:
                where = _keep_msg(out)
                raise TrainingDiverged(f"loss became {loss.item()} at step {step + 1} (epoch {epoch + 1}); "
                                       f"training stopped, {where}")
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            if cfg.clip_grad:
                nn.utils.clip_grad_norm_(train_model.parameters(), cfg.clip_grad)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            if ema is not None:
                ema.update(net)
            step += 1
            loss_sum += loss.detach().double() * y.numel()
            correct += (logits.argmax(1) == y).sum().item()
            seen += y.numel()
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.2e}")
            if sleep:
                time.sleep(sleep)
        bar.close()
        epoch_time += time.perf_counter() - t_epoch
        row = {"epoch": epoch + 1, "step": step, "lr": lr, "train_loss": loss_sum.item() / max(seen, 1),
               "train_accuracy": correct / max(seen, 1), "image_size": st.image_size,
               "time_s": round(time.perf_counter() - t_epoch, 3)}
        eval_model = ema.module if ema is not None else net
        if main and test_set is not None and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs):
            last_eval = evaluate(eval_model, test_set, batch_size=max(256, per_rank), image_size=eval_size,
                                 device=device, amp=cfg.amp, num_workers=cfg.num_workers)
            row.update(test_loss=last_eval["loss"], test_accuracy=last_eval["accuracy"])
            best = max(best, last_eval["accuracy"])
        if main:
            if progress:
                msg = f"epoch {epoch + 1}/{cfg.epochs}  train_loss {row['train_loss']:.4f}"
                if "test_accuracy" in row:
                    msg += f"  test_acc {row['test_accuracy']:.4f}  test_loss {row['test_loss']:.4f}"
                print(msg, file=sys.stderr)
            if out is not None:
                append_jsonl(out / "metrics.jsonl", row)
                state = {"epoch": epoch + 1, "step": step, "best_accuracy": best,
                         "optimizer": optimizer.state_dict(), "rng": rng_state()}
                if ema is not None:
                    state["ema"] = ema.state_dict()
                if scaler is not None:
                    state["scaler"] = scaler.state_dict()
                save_checkpoint(out, epoch + 1, net, state)
        D.barrier()

    # ------------------------------------------------------------------ final report (rank 0)
    eval_model = ema.module if ema is not None else net
    rank_diff = D.max_param_spread(net) if dist_info.enabled else 0.0
    report: dict[str, Any] = {}
    if main:
        if test_set is not None and not last_eval:
            last_eval = evaluate(eval_model, test_set, batch_size=256, image_size=eval_size, device=device,
                                 amp=cfg.amp)
        in_size = sample_input_size(train_set, eval_size)
        rows = read_jsonl(out / "metrics.jsonl") if out is not None else []
        report = {
            **{k: v for k, v in run_info.items() if k in ("model", "dataset")},
            "accuracy": last_eval.get("accuracy"),
            "loss": last_eval.get("loss"),
            "best_accuracy": max([r.get("test_accuracy", 0.0) for r in rows] + [best]) if rows or best else None,
            "params": count_params(eval_model),
            "macs": _macs_or_none(eval_model, in_size),
            "latency_ms": measure_latency_ms(eval_model, in_size, runs=cfg.latency_runs, device=device),
            "latency_device": device.type,
            "input_size": list(in_size),
            "epochs": cfg.epochs,
            "steps": step,
            "train_time_s": round(epoch_time, 3),
            "wall_time_s": round(time.perf_counter() - t_start, 3),
            "ema": cfg.ema_decay is not None,
            "world_size": dist_info.world_size,
            "rank_max_param_diff": rank_diff,   # max |w_rank_i - w_rank_j| over all weights: 0 = in sync
            "test_samples": last_eval.get("samples"),
        }
        if resume:
            report["resumed"] = True
        if out is not None:
            save_weights(eval_model, out / "model.safetensors",
                         {"model": run_info.get("model", type(net).__name__), "epochs": cfg.epochs})
            write_json(out / "report.json", report)
            plot_curves(rows, out / "curves.png", title=f"{run_info.get('model', '')} on "
                                                        f"{run_info.get('dataset', dataset_name)}")
    D.barrier()
    return report


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


def _limit(ds: Dataset, n: int) -> Dataset:
    if n >= len(ds):
        return ds
    sub = Subset(ds, range(n))
    for attr in ("num_classes", "input_size", "mean", "std", "modality"):
        if hasattr(ds, attr):
            setattr(sub, attr, getattr(ds, attr))
    return sub
