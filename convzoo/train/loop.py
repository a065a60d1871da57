"""One training run as a state object and the steps it goes through.

    build_run -> [restore_run (resume)] -> for each epoch: train_one_epoch -> finish_epoch
    (evaluate, log, check finite, checkpoint) -> final report (:mod:`convzoo.train.report`)

:class:`RunState` holds what a run carries from step to step (model, optimizer, EMA, scaler,
loader, step counter, best accuracy), so each step is a short function of it.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset, Subset

from . import distributed as D
from .augment import AugmentedDataset, eval_image_size, mix_batch, set_dropout, stage_settings
from .batches import autocast, evaluate, norm_stats, prepare_batch
from .config import TrainConfig
from .ema import ModelEma
from .finetune import keep_frozen_norms_eval
from .schedule import lr_at
from .tasks import check_targets, count_correct, logits_of, task_loss

# Parameters are checked for NaN/inf every this many steps (the loss every step): a full pass over
# the weights costs about one optimizer step, so 1 in 50 keeps it under ~2 %.
PARAM_CHECK_EVERY = 50


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN/inf; the last good checkpoint is kept (exit code 1)."""

    exit_code = 1


@dataclass
class RunState:
    cfg: TrainConfig
    device: torch.device
    dist: Any
    out: Optional[Path]
    train_set: Dataset
    test_set: Optional[Dataset]
    model: nn.Module
    data: Dataset
    sampler: Any                      # DistributedSampler, or a streamed dataset itself
    loader: DataLoader
    optimizer: torch.optim.Optimizer
    ema: Optional[ModelEma]
    scaler: Any
    num_classes: Optional[int]
    per_rank: int
    stats: Any
    train_model: Optional[nn.Module] = None
    net: Optional[nn.Module] = None
    start_epoch: int = 0
    step: int = 0
    best: float = 0.0
    last_eval: dict = field(default_factory=dict)
    epoch_time: float = 0.0
    resumed: bool = False
    rank_diff: float = 0.0

    @property
    def steps_per_epoch(self) -> int:
        return len(self.loader)

    @property
    def eval_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.net


def build_run(model, train_set, test_set, cfg: TrainConfig, out, device, dist_info, build_optimizer) -> RunState:
    """Sampler, loader, optimizer, EMA and scaler for ``model`` (moved to ``device``)."""
    num_classes = getattr(train_set, "num_classes", None) or getattr(model, "num_classes", None)
    uses_randaug = cfg.randaugment is not None or cfg.randaug_range is not None
    data = AugmentedDataset(train_set) if uses_randaug else train_set
    # Shuffling through DistributedSampler also in one process: the order is a function of
    # (seed, epoch), and rank r of N gets every N-th sample of the same permutation, so N processes
    # see exactly the global batches one process sees.
    # A streamed dataset (tar shards) splits itself: each rank reads its own shards, and it is its
    # own "sampler" (set_epoch reshuffles the shard order).
    streamed = isinstance(data, IterableDataset)
    if streamed:
        data.set_distributed(dist_info.rank, dist_info.world_size, cfg.seed)
    sampler = data if streamed else DistributedSampler(
        data, num_replicas=dist_info.world_size, rank=dist_info.rank, shuffle=True, seed=cfg.seed,
        drop_last=False)
    per_rank = cfg.batch_size // dist_info.world_size
    loader = DataLoader(data, batch_size=per_rank, sampler=None if streamed else sampler,
                        num_workers=cfg.num_workers, drop_last=len(sampler) > per_rank)
    model.to(device)
    return RunState(cfg=cfg, device=device, dist=dist_info, out=out, train_set=train_set, test_set=test_set,
                    model=model, data=data, sampler=sampler, loader=loader,
                    optimizer=build_optimizer(model, cfg),
                    ema=ModelEma(model, cfg.ema_decay) if cfg.ema_decay else None,
                    scaler=torch.amp.GradScaler("cuda") if (cfg.amp == "fp16" and device.type == "cuda") else None,
                    num_classes=num_classes, per_rank=per_rank, stats=norm_stats(train_set, device))


def wrap(run: RunState) -> None:
    """DDP-wrap the model (SyncBN when asked); ``run.net`` is the plain module after conversion."""
    run.train_model = D.wrap_model(run.model, run.device, run.dist, run.cfg.sync_bn)
    run.net = D.unwrap(run.train_model)
    if run.ema is not None and run.cfg.sync_bn and run.dist.enabled:
        run.ema.module = nn.SyncBatchNorm.convert_sync_batchnorm(run.ema.module)


def first_nonfinite(module: nn.Module) -> Optional[str]:
    """Name of the first parameter or floating buffer holding NaN/inf, None when all are finite."""
    for name, t in list(module.named_parameters()) + list(module.named_buffers()):
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return name
    return None


def _diverged(run: RunState, what: str, epoch: int, keep_msg) -> TrainingDiverged:
    return TrainingDiverged(f"{what} at step {run.step + 1} (epoch {epoch + 1}); training stopped, "
                            f"{keep_msg(run.out)}")


def _check_loss(run: RunState, loss: torch.Tensor, epoch: int, keep_msg) -> None:
    bad = torch.tensor(0.0 if torch.isfinite(loss) else 1.0)
    if run.dist.enabled:
        D.all_reduce_sum(bad)
    if bad.item() > 0:
        raise _diverged(run, f"loss became {loss.item()}", epoch, keep_msg)


def check_weights(run: RunState, epoch: int, keep_msg) -> None:
    """NaN/inf in the weights (or the EMA's) stops the run before anything is saved from them."""
    for label, module in (("weight", run.net), ("EMA weight", run.ema.module if run.ema else None)):
        name = first_nonfinite(module) if module is not None else None
        bad = torch.tensor(0.0 if name is None else 1.0)
        if run.dist.enabled:
            D.all_reduce_sum(bad)
        if bad.item() > 0:
            run.step -= 1   # the message names the step that made them
            raise _diverged(run, f"{label} {name or '(on another rank)'} became NaN/inf", epoch, keep_msg)


def _optimizer_step(run: RunState, loss: torch.Tensor) -> None:
    run.optimizer.zero_grad(set_to_none=True)
    if run.scaler is not None:
        run.scaler.scale(loss).backward()
        run.scaler.unscale_(run.optimizer)
    else:
        loss.backward()
    if run.cfg.clip_grad:
        nn.utils.clip_grad_norm_(run.train_model.parameters(), run.cfg.clip_grad)
    if run.scaler is not None:
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        run.optimizer.step()
    if run.ema is not None:
        run.ema.update(run.net)


def draw_epoch(data, epoch: int) -> None:
    """Tell a map-style training set (or the set under a Subset) that epoch ``epoch`` begins, when it
    draws new images per epoch (``cluttered_digits(fresh=True)``): the images, like the order, are then
    a function of (seed, epoch), so a resumed run sees what an uninterrupted one saw."""
    while isinstance(data, Subset):
        data = data.dataset
    if callable(getattr(data, "set_epoch", None)):
        data.set_epoch(epoch)


def train_one_epoch(run: RunState, epoch: int, *, progress: bool, keep_msg) -> dict[str, Any]:
    """One pass over the training data; returns the epoch's log row (without test metrics)."""
    from tqdm import tqdm
    cfg, t_epoch = run.cfg, time.perf_counter()
    st = stage_settings(cfg, epoch)
    run.sampler.set_epoch(epoch)
    if run.sampler is not run.data:
        draw_epoch(run.train_set, epoch)
    set_dropout(run.net, st.dropout)
    if isinstance(run.data, AugmentedDataset):
        run.data.magnitude = st.randaugment
    run.train_model.train()
    if run.cfg.freeze is not None:   # a linear probe keeps the backbone's norm statistics
        keep_frozen_norms_eval(run.train_model)
    loss_sum, correct, seen, lr = torch.zeros((), dtype=torch.float64), 0, 0, cfg.lr
    sleep = float(os.environ.get("CONVZOO_STEP_SLEEP", "0"))   # test hook: slow steps down
    bar = tqdm(run.loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, file=sys.stderr,
               disable=not (progress and run.dist.is_main), dynamic_ncols=True)
    for x, y in bar:
        lr = lr_at(run.step, base_lr=cfg.lr, total_steps=run.steps_per_epoch * cfg.epochs,
                   steps_per_epoch=run.steps_per_epoch, schedule=cfg.schedule, warmup_epochs=cfg.warmup_epochs,
                   min_lr=cfg.min_lr, step_decay=cfg.step_decay, step_epochs=cfg.step_epochs)
        for g in run.optimizer.param_groups:
            g["lr"] = lr * g.get("lr_scale", 1.0)   # layer-wise decay's scale (1 otherwise)
        check_targets(cfg.task, y, run.num_classes, "training set")
        x, y = prepare_batch(x.to(run.device), st.image_size, run.stats), y.to(run.device)
        target = y
        if st.mixup > 0 or cfg.cutmix > 0:
            x, target = mix_batch(x, y, run.num_classes, st.mixup, cfg.cutmix)
        with autocast(run.device, cfg.amp):
            logits = logits_of(run.train_model(x))
        loss = task_loss(cfg.task, logits.float(), target, cfg.label_smoothing)
        _check_loss(run, loss, epoch, keep_msg)
        _optimizer_step(run, loss)
        run.step += 1
        if run.step % PARAM_CHECK_EVERY == 0:
            check_weights(run, epoch, keep_msg)
        hits, counted = count_correct(cfg.task, logits, y)
        loss_sum += loss.detach().double() * counted
        correct, seen = correct + hits, seen + counted
        bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.2e}")
        if sleep:
            time.sleep(sleep)
    bar.close()
    run.epoch_time += time.perf_counter() - t_epoch
    return {"epoch": epoch + 1, "step": run.step, "lr": lr, "train_loss": loss_sum.item() / max(seen, 1),
            "train_accuracy": correct / max(seen, 1), "image_size": st.image_size,
            "time_s": round(time.perf_counter() - t_epoch, 3)}


def finish_epoch(run: RunState, epoch: int, row: dict, *, progress: bool, keep_msg) -> None:
    """Evaluate (every ``eval_every`` epochs and at the end), check the weights, log, checkpoint."""
    from ..io import append_jsonl
    from .checkpoint import save_run_state
    cfg = run.cfg
    check_weights(run, epoch, keep_msg)
    if run.dist.is_main and run.test_set is not None and \
            ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs):
        run.last_eval = evaluate(run.eval_model, run.test_set, batch_size=max(256, run.per_rank),
                                 image_size=eval_image_size(cfg), device=run.device, amp=cfg.amp,
                                 num_workers=cfg.num_workers)
        row.update(test_loss=run.last_eval["loss"], test_accuracy=run.last_eval["accuracy"])
        if "miou" in run.last_eval:
            row["test_miou"] = run.last_eval["miou"]
        run.best = max(run.best, run.last_eval["accuracy"])
    if run.dist.is_main:
        if progress:
            msg = f"epoch {epoch + 1}/{cfg.epochs}  train_loss {row['train_loss']:.4f}"
            if "test_accuracy" in row:
                msg += f"  test_acc {row['test_accuracy']:.4f}  test_loss {row['test_loss']:.4f}"
                msg += f"  test_miou {row['test_miou']:.4f}" if "test_miou" in row else ""
            print(msg, file=sys.stderr)
        if run.out is not None:
            append_jsonl(run.out / "metrics.jsonl", row)
            save_run_state(run, epoch + 1)
    D.barrier()
