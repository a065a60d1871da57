"""Fine-tuning a compressed network by distillation from the original's logits (Hinton, Vinyals &
Dean 2015, "Distilling the Knowledge in a Neural Network", arXiv:1503.02531, Sec. 2).

    batch -> normalise -> teacher (frozen, eval) -> soft targets at temperature T
                       -> student -> loss = (1 - a) CE(student, y) + a T^2 KL(teacher_T || student_T)

The trainer (:func:`convzoo.train.fit`) trains on labels only, so the distillation loop is this short
one: AdamW, cosine schedule (:func:`convzoo.train.lr_at`), the trainer's batch preparation, a NaN
check per step. Shape: logits (N, classes) from both networks.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..train.batches import norm_stats, prepare_batch
from ..train.schedule import lr_at

TEMPERATURE = 4.0
ALPHA = 0.5


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, y: torch.Tensor, *, temperature: float = TEMPERATURE,
            alpha: float = ALPHA) -> torch.Tensor:
    """Hinton's loss; the T^2 keeps the soft term's gradient scale independent of T."""
    soft = F.kl_div(F.log_softmax(student / temperature, 1), F.log_softmax(teacher / temperature, 1),
                    reduction="batchmean", log_target=True)
    return (1 - alpha) * F.cross_entropy(student, y) + alpha * temperature ** 2 * soft


def distill(student: nn.Module, teacher: nn.Module, train_set: Dataset, *, epochs: int, lr: float,
            batch_size: int = 64, image_size=None, device=None, seed: int = 0, weight_decay: float = 0.0) -> list:
    """Train ``student`` in place on ``train_set`` against ``teacher``'s logits; returns the mean loss per
    epoch. Raises ``RuntimeError`` (nothing is saved) when the loss turns NaN/inf."""
    device = device or next(student.parameters()).device
    torch.manual_seed(seed)
    teacher = teacher.to(device).eval()
    student.to(device).train()
    stats = norm_stats(train_set, device)
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=len(train_set) > batch_size)
    opt = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=weight_decay)
    total, step, losses = epochs * len(loader), 0, []
    for _ in range(epochs):
        run = 0.0
        for x, y in loader:
            for g in opt.param_groups:
                g["lr"] = lr_at(step, base_lr=lr, total_steps=total, steps_per_epoch=len(loader))
            x, y = prepare_batch(x.to(device), image_size, stats), y.to(device)
            with torch.no_grad():
                t = teacher(x)
            loss = kd_loss(student(x).float(), t.float(), y)
            if not math.isfinite(loss.item()):
                raise RuntimeError(f"distillation diverged at step {step}: loss {loss.item()}; lower --lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            run += loss.item()
            step += 1
        losses.append(run / max(len(loader), 1))
    student.eval()
    return losses
