"""The report of one compression: model MACs and parameters before and after, and one row per conv
(factorised with its rank and weight error, or left dense with the reason).

Keys: ``method``, ``target``, ``macs_before``, ``macs_after``, ``params_before``, ``params_after``,
``layers`` (rows below), ``spec`` (what :func:`convzoo.compress.apply_spec` needs to rebuild the
architecture) and, with an engine (always for ``speedup=``), ``engine``, ``latency_ms_before``,
``latency_ms_after`` (medians), ``latency`` (engine, batch, threads, each side's median and quartiles, the
speed-up and its quartiles over the interleaved rounds; ``search``: the speed-up search's rounds) and
``timing`` (per layer, dense against factorised).
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


def latency_summary(stats: dict, engine: str, threads, note: Optional[str], timing: list) -> dict:
    """The report's latency keys: medians at the top level (as before), the spread under ``latency``."""
    lat = {"engine": engine, "batch": 1, "threads": threads, "before": stats["before"], "after": stats["after"],
           "speedup": stats["before"]["median_ms"] / stats["after"]["median_ms"],
           "speedup_per_round": stats.get("ratio"), "how": "dense and compressed timed in interleaved rounds; "
           "median and quartiles over every call, the speed-up's quartiles over the rounds"}
    if note:
        lat["note"] = note
    return {"engine": engine, "latency_ms_before": stats["before"]["median_ms"],
            "latency_ms_after": stats["after"]["median_ms"], "latency": lat, "timing": timing}


def _jsonable(rank):
    return list(rank) if isinstance(rank, tuple) else int(rank)
