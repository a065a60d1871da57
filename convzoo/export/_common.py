"""Two helpers the export passes share: swapping a submodule by name, and the parity measure."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put ``new`` where ``model.get_submodule(name)`` is (``name`` is a dotted path, not "")."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def relative_error(out, ref) -> float:
    """max |out - ref| / max |ref| (tensors or arrays, in float64): the parity measure of every export test."""
    out = torch.as_tensor(np.asarray(out.detach().cpu()) if isinstance(out, torch.Tensor) else out)
    ref = torch.as_tensor(np.asarray(ref.detach().cpu()) if isinstance(ref, torch.Tensor) else ref)
    out, ref = out.double(), ref.double()
    return float((out - ref).abs().max() / ref.abs().max().clamp_min(1e-12))
