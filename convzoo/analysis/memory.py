"""Activation memory of one forward pass: bytes of the tensors the model allocates, at their peak.

    model, x -> run the forward under a dispatch mode that sees every op's outputs -> each output
    with a storage not seen before is counted while that storage lives (freed: a weakref callback)
    -> peak bytes alive at once, and the total allocated over the pass

What it counts: tensor storages created by the forward (activations and temporaries), not the
weights, not the input, not allocator slack or the engine's own buffers; in-place ops and views
allocate nothing. Under ``torch.no_grad`` (inference) activations die as soon as the next layer has
used them, so the peak is a few layers' outputs; with autograd on, the saved tensors stay until the
backward, so the peak is close to the total. Deterministic for a given model and input shape.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


@dataclass(frozen=True)
class ActivationMemory:
    """``peak_bytes`` alive at once during the forward, ``total_bytes`` allocated over it."""
    peak_bytes: int
    total_bytes: int


class _Tracker(TorchDispatchMode):
    def __init__(self, known: set):
        super().__init__()
        self.live: dict = {}
        self.known, self.current, self.peak, self.total = known, 0, 0, 0

    def _free(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor) or t.device.type == "meta":
                continue
            st = t.untyped_storage()
            key, n = st.data_ptr(), st.nbytes()
            if n == 0 or key in self.live or key in self.known:
                continue
            self.live[key] = n
            self.current += n
            self.total += n
            self.peak = max(self.peak, self.current)
            weakref.finalize(st, self._free, key)
        return out


def forward_activation_memory(model: nn.Module, x: torch.Tensor, *, grad: bool = False) -> ActivationMemory:
    """Peak and total bytes the forward ``model(x)`` allocates (``grad=False``: under no_grad).

    Shape: x is one batch as the model takes it; the result scales with its batch size.
    """
    known = {p.untyped_storage().data_ptr() for p in list(model.parameters()) + list(model.buffers())}
    known.add(x.untyped_storage().data_ptr())
    tracker = _Tracker(known)
    with torch.set_grad_enabled(grad), tracker:
        out = model(x)
    del out
    return ActivationMemory(tracker.peak, tracker.total)


def human_bytes(n: float) -> str:
    """``n`` bytes as B, KB, MB or GB (powers of 1024), three significant figures."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} GB"
