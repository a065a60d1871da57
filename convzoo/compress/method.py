"""One factorisation method as a record of pure functions, so the model walk and the rank search treat
all six alike.

    weight (C_out, C_in / groups, *k) --factor(w, rank)--> factors --build(conv, factors)--> nn.Module
                                      --reconstruct(factors)--> the weight the module computes

``spectra(w)`` gives, per rank axis, the energy each further factor adds (squared singular values,
largest first); ``rank`` is an int, or a tuple with one entry per spectrum (Tucker-2's input and
output ranks). Shape: spatial sizes are tuples over the kernel's axes, batch 1 in ``macs``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Union

import numpy as np
from torch import nn

Rank = Union[int, tuple]


@dataclass(frozen=True)
class Method:
    name: str
    paper: str                                                   # citation, arXiv id
    skip: Callable[[nn.Module], Optional[str]]                   # why this conv stays dense, or None
    full_rank: Callable[[tuple], Rank]                           # weight shape -> the exact rank
    spectra: Callable[[np.ndarray], list]                        # weight -> one energy array per rank axis
    factor: Callable[..., tuple]                                 # (weight, rank) -> factors
    reconstruct: Callable[[tuple], np.ndarray]                   # factors -> weight
    build: Callable[[nn.Module, tuple], nn.Module]               # (conv, factors) -> module
    macs: Callable[[nn.Module, Rank, tuple, tuple], int]         # (conv, rank, in_sp, out_sp) -> MACs


def rank_tuple(rank: Rank) -> tuple:
    return tuple(rank) if isinstance(rank, (tuple, list)) else (int(rank),)


def clip_rank(rank: int, full: Rank) -> Rank:
    """A global int rank applied to one layer: capped at the layer's full rank on every axis."""
    if isinstance(full, tuple):
        return tuple(min(rank, f) for f in full)
    return min(rank, full)
