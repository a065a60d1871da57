"""Receptive-field tracking through the data flow of one forward pass (used by :func:`profile`).

Each tensor met by the dispatch mode gets the receptive field and jump of the input positions it
depends on: a conv or pool steps them (:func:`~convzoo.analysis.receptive_field.rf_step`), an
elementwise or reshaping op passes on the widest of its inputs as long as the output still holds the
same spatial positions; global pooling, flatten + linear end it (no entry: undefined).

    aten op (inputs with entries) -> rf_step or pass-through -> entry for the output
Shape: entries are per spatial axis (1D, 2D or 3D maps).
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Optional

import torch
from torch.utils.weak import WeakIdKeyDictionary

from .counting import op_name
from .receptive_field import rf_step


@dataclass
class _RF:
    rf: tuple
    jump: tuple
    spatial: tuple      # spatial shape of the map this describes
    batch: int


_POOLS = {f"{kind}_pool{n}d{suffix}": n for kind in ("max", "avg") for n in (1, 2, 3)
          for suffix in ("", "_with_indices")}


def full_args(func, args, kwargs) -> list:
    if not kwargs:
        return list(args)
    full = list(args)
    for a in func._schema.arguments[len(args):]:
        full.append(kwargs.get(a.name, a.default_value if a.has_default_value() else None))
    return full


def tensors(x) -> list:
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in tensors(v)]
    return []


def per_axis(v, n: int, default) -> tuple:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        v = default
    if isinstance(v, (list, tuple)):
        return tuple(v) * n if len(v) == 1 else tuple(v)
    return (int(v),) * n


def _contains(shape: tuple, sub: tuple) -> bool:
    n = len(sub)
    return any(shape[i:i + n] == sub for i in range(1, len(shape) - n + 1))


class RFTracker:
    """Receptive-field entries of the tensors of one forward pass, keyed weakly by tensor."""

    def __init__(self):
        self.map = WeakIdKeyDictionary()

    def seed(self, x: torch.Tensor) -> None:
        """The model input: receptive field and jump 1 on every spatial axis."""
        if x.dim() >= 3:
            self.map[x] = _RF((1,) * (x.dim() - 2), (1,) * (x.dim() - 2), tuple(x.shape[2:]), x.shape[0])

    def get(self, t) -> Optional[_RF]:
        return self.map.get(t)

    def track(self, func, args, kwargs, full, out) -> None:
        """Follow one aten op: a conv or pool steps the receptive field (:func:`rf_step`); any other op
        passes on the widest of its inputs while it keeps their spatial positions."""
        ins = [(t, self.map.get(t)) for t in tensors(list(args) + list(kwargs.values()))]
        ins = [(t, i) for t, i in ins if i is not None]
        if not ins:
            return
        outs = tensors(out)
        if not outs:
            return
        name = op_name(func)
        if name in ("convolution", "_convolution") or name in _POOLS:
            full = full if full is not None else full_args(func, args, kwargs)
            x_info = self.map.get(full[0]) if isinstance(full[0], torch.Tensor) else None
            y = outs[0]
            if x_info is None:
                return
            # 1D pools run as 2D on an (N, C, 1, L) view: extra leading unit axes are allowed.
            m, n = len(x_info.rf), y.dim() - 2
            if n < m or tuple(full[0].shape[2:2 + n - m]) != (1,) * (n - m):
                return
            if name in _POOLS:
                k = per_axis(full[1], n, 1)
                s = per_axis(full[2] if len(full) > 2 else None, n, k)
                d = per_axis(full[4], n, 1) if name.startswith("max") and len(full) > 4 else (1,) * n
            else:
                if full[6]:          # transposed: a fractional stride; receptive field left undefined
                    return
                k = tuple(full[1].shape[2:])
                s, d = per_axis(full[3], n, 1), per_axis(full[5], n, 1)
            k, s, d = k[n - m:], s[n - m:], d[n - m:]
            rf, jump = rf_step(x_info.rf, x_info.jump, k, s, d)
            self.map[y] = _RF(rf, jump, tuple(y.shape[2 + n - m:]), y.shape[0])
            return
        # Any other op: the output keeps the widest receptive field of its inputs, as long as it still
        # holds the same spatial positions (as an axis block, or as rows N*prod(S) of a 2D matrix, as
        # in nn.Linear over channels-last data). Global pooling / flatten+linear end it.
        best = ins[0][1]
        if len(ins) > 1:
            rf = tuple(max(v) for v in zip(*(i.rf for _, i in ins)))
            jump = tuple(max(v) for v in zip(*(i.jump for _, i in ins)))
            best = _RF(rf, jump, best.spatial, best.batch)
        for t in outs:
            shape = tuple(t.shape)
            if _contains(shape, best.spatial) or (
                    len(shape) == 2 and shape[0] == best.batch * prod(best.spatial)
                    and prod(best.spatial) > 1):
                self.map[t] = best
