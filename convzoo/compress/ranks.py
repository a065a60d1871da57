"""Ranks from one global target: ``rank=`` (the same rank everywhere, capped at each layer's full
rank), ``energy=`` (each layer keeps the fewest factors whose squared singular values reach this share
of the total), ``macs_ratio=`` (the one energy level, found by bisection, at which the model's MACs fall
by this factor; layers whose factorised form would cost more MACs stay dense) or ``speedup=`` (measured
latency: :mod:`convzoo.compress.api` searches MAC ratios with the engine's timings in the loop).

Checks name the value and the allowed range in one line (``ValueError``), before anything is built.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .method import Rank, clip_rank, rank_tuple

BISECTION_STEPS = 40


TARGETS = ("rank", "energy", "macs_ratio", "speedup")


def check_target(rank, energy, macs_ratio, speedup) -> str:
    """Which one target was given (one of ``TARGETS``); each checked against its range."""
    given = [k for k, v in zip(TARGETS, (rank, energy, macs_ratio, speedup)) if v is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of rank=, energy=, macs_ratio=, speedup= "
                         f"(got {', '.join(given) or 'none'})")
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
        raise ValueError(f"rank must be an int >= 1, got {rank!r}")
    if energy is not None and (isinstance(energy, bool) or not isinstance(energy, (int, float))
                               or not math.isfinite(energy) or not 0 < energy <= 1):
        raise ValueError(f"energy must be a number in (0, 1], got {energy!r}")
    for name, v in (("macs_ratio", macs_ratio), ("speedup", speedup)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                              or v <= 1):
            raise ValueError(f"{name} must be a finite number > 1, got {v!r}")
    return given[0]


def check_rank_range(rank: int, fulls: list) -> None:
    """A global rank above every chosen layer's full rank cannot mean anything: refuse it."""
    top = max(max(rank_tuple(f)) for f in fulls)
    if rank > top:
        raise ValueError(f"rank must be in [1, {top}] (the largest full rank among the layers to factor), "
                         f"got {rank}")


def rank_at(spectra: list, energy: float, full: Rank) -> Rank:
    """The fewest factors keeping ``energy`` of each spectrum's total; ``energy >= 1`` keeps all."""
    if energy >= 1.0:
        return full
    out = []
    for s, f in zip(spectra, rank_tuple(full)):
        total = float(np.sum(s))
        if total <= 0:
            out.append(1)
            continue
        kept = np.cumsum(s) / total
        out.append(int(min(np.searchsorted(kept, energy - 1e-12) + 1, len(s), f)))
    return tuple(out) if isinstance(full, tuple) else out[0]


def global_rank(rank: int, full: Rank) -> Rank:
    return clip_rank(rank, full)


def max_macs_ratio(layers: list, total_macs: int) -> float:
    """The model's MAC ratio with rank 1 in every layer where that saves MACs: the most any target gets."""
    saved = sum(max(0, L["dense_macs"] - L["cost"](rank_at(L["spectra"], 0.0, L["full"]))) for L in layers)
    return total_macs / max(total_macs - saved, 1)


def energy_for_speedup(layers: list, total_macs: int, speedup: float, method: str,
                       name: str = "macs_ratio") -> float:
    """The largest energy at which the estimated model MACs are <= ``total_macs / speedup``.

    ``layers``: dicts with ``spectra``, ``full``, ``dense_macs`` and ``cost`` (rank -> MACs). A layer
    counts as factorised only where that saves MACs. Raises when even rank 1 everywhere falls short."""
    def macs_at(e: float) -> int:
        saved = 0
        for L in layers:
            c = L["cost"](rank_at(L["spectra"], e, L["full"]))
            saved += max(0, L["dense_macs"] - c)
        return total_macs - saved

    goal = total_macs / speedup
    best = total_macs / max(macs_at(0.0), 1)
    if macs_at(0.0) > goal:
        raise ValueError(f"{name} must be in (1, {best:.2f}] for method {method!r} on this model (rank 1 in "
                         f"every layer it can factor gives {best:.2f}x fewer MACs), got {speedup:g}")
    lo, hi = 0.0, 1.0                                            # macs_at(lo) <= goal
    if macs_at(hi) <= goal:
        return hi
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if macs_at(mid) <= goal else (lo, mid)
    return lo


def chosen_rank(layer: dict, target: str, value, energy: Optional[float]) -> Rank:
    """The rank one layer gets under the global target."""
    if target == "rank":
        return global_rank(value, layer["full"])
    return rank_at(layer["spectra"], energy if energy is not None else value, layer["full"])
