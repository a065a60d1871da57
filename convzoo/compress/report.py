"""The report of one compression: model MACs and parameters before and after, and one row per conv
(factorised with its rank and weight error, or left dense with the reason).

Keys: ``method``, ``target``, ``macs_before``, ``macs_after``, ``params_before``, ``params_after``,
``layers`` (rows below), ``spec`` (what :func:`convzoo.compress.apply_spec` needs to rebuild the
architecture) and, with an engine, ``engine``, ``latency_ms_before``, ``latency_ms_after``, ``timing``.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import nn

from ..analysis.profile import profile


def relative_error(w: np.ndarray, approx: np.ndarray) -> float:
    """||W - W_approx||_F / ||W||_F (0 for an all-zero W reproduced exactly)."""
    return float(np.linalg.norm(approx - w) / max(float(np.linalg.norm(w)), 1e-300))


def factored_row(name: str, method: str, rank, full, error: float, dense_macs: int, macs: int) -> dict:
    return {"name": name, "method": method, "status": "factorized", "rank": _jsonable(rank),
            "full_rank": _jsonable(full), "relative_weight_error": error, "macs_dense": int(dense_macs),
            "macs_factorized": int(macs)}


def dense_row(name: str, method: str, reason: str) -> dict:
    return {"name": name, "method": method, "status": "dense", "reason": reason}


def cost(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    p = profile(model, x)
    return int(p.macs), int(p.params)


def summary(method: str, target: dict, before: tuple, after: tuple, rows: list, spec: dict,
            latency: Optional[dict] = None) -> dict:
    rep = {"method": method, "target": target, "macs_before": before[0], "macs_after": after[0],
           "params_before": before[1], "params_after": after[1], "layers": rows, "spec": spec}
    if latency:
        rep.update(latency)
    return rep


def _jsonable(rank):
    return list(rank) if isinstance(rank, tuple) else int(rank)
