"""Distributed data parallel on PyTorch's own engine: ``torchrun`` + DistributedDataParallel.

``torchrun --nproc_per_node N -m convzoo train ...`` sets RANK / WORLD_SIZE / LOCAL_RANK /
MASTER_ADDR; :func:`setup` sees them and joins the process group (gloo on CPU, nccl on CUDA).
Multi-node is torchrun's own: ``--nnodes 2 --node_rank k --rdzv_backend c10d
--rdzv_endpoint HOST:PORT`` on every node. Without those variables everything is a no-op.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def env_info() -> DistInfo:
    return DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                    int(os.environ.get("LOCAL_RANK", 0)))


_CREATED = False


def setup(device: torch.device) -> DistInfo:
    """Join the process group torchrun describes (if any); return this process's rank info."""
    global _CREATED
    info = env_info()
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
        _CREATED = True
    return info


def cleanup() -> None:
    """Leave the process group if :func:`setup` created it (a caller's own group is left alone)."""
    global _CREATED
    if _CREATED and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        _CREATED = False


def resolve_device(spec: str) -> torch.device:
    """"auto" -> cuda:LOCAL_RANK when CUDA is present, else cpu."""
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", env_info().local_rank % torch.cuda.device_count())
        return torch.device("cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} requested but CUDA is not available")
    return dev


def wrap_model(model: nn.Module, device: torch.device, info: DistInfo, sync_bn: bool = False) -> nn.Module:
    """DDP-wrap ``model`` when distributed (optionally converting BatchNorm to SyncBatchNorm)."""
    if not info.enabled:
        return model
    if sync_bn and device.type != "cuda":
        raise ValueError("--sync-bn needs CUDA: PyTorch's SyncBatchNorm has no CPU implementation "
                         "(on CPU, leave it off or use a model without BatchNorm)")
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


@torch.no_grad()
def max_param_spread(model: nn.Module) -> float:
    """max over weights of (max over ranks - min over ranks): 0.0 when every process holds the same
    weights (DDP keeps them in sync; anything else is a bug). Collective: call on every rank."""
    flat = torch.cat([p.detach().float().reshape(-1).cpu() for p in model.parameters()])
    if not (dist.is_available() and dist.is_initialized()):
        return 0.0
    backend_dev = flat.cuda() if dist.get_backend() == "nccl" else flat
    hi, lo = backend_dev.clone(), backend_dev.clone()
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    return float((hi - lo).max().item())
