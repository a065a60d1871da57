"""One call for the fast inference path: fold BN, channels_last, optionally torch.compile."""
from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn

from .fold import fold_batchnorm
from .memory_efficient import set_memory_efficient

_FORMATS = {2: torch.channels_last, 3: torch.channels_last_3d}


def memory_format_for(model: nn.Module) -> Optional[torch.memory_format]:
    """channels_last for 2D models, channels_last_3d for 3D, None for 1D (no such layout)."""
    return _FORMATS.get(getattr(model, "dims", 2))


def _to_format(fmt):
    def hook(module, args):
        x = args[0]
        if isinstance(x, torch.Tensor) and x.dim() in (4, 5):
            return (x.contiguous(memory_format=fmt), *args[1:])
        return None
    return hook


def optimize(model: nn.Module, *, fold_bn: bool = True, channels_last: bool = True,
             compile: bool = False, example_input: Optional[torch.Tensor] = None,
             compile_mode: Optional[str] = None, compile_options: Optional[dict] = None,
             compile_backend: str = "inductor") -> nn.Module:
    """Return an inference copy of ``model``: eval mode, plain SiLU, BN folded into convs
    (``fold_bn``), weights and inputs in channels_last / channels_last_3d (``channels_last``; 1D
    models keep their layout), and ``torch.compile`` (``compile``, ``fullgraph=True``, static shapes).

    Outputs equal the eager model's to float rounding (tested in tests/test_export.py). The copy's
    parameters are not meant for training. ``example_input`` guides BN folding (see
    :func:`~convzoo.export.fold_batchnorm`). ``compile_options`` go to inductor, e.g.
    ``{"freezing": True}`` (weights become constants; call under ``torch.inference_mode``);
    ``compile_backend="eager"`` only checks that the model traces as one graph.
    """
    model = copy.deepcopy(model).eval()
    set_memory_efficient(model, False)
    if fold_bn:
        model = fold_batchnorm(model, example_input, inplace=True)
    fmt = memory_format_for(model) if channels_last else None
    if fmt is not None:
        model = model.to(memory_format=fmt)
        model.register_forward_pre_hook(_to_format(fmt))
    for p in model.parameters():
        p.requires_grad_(False)
    if compile:
        model = torch.compile(model, mode=compile_mode, fullgraph=True, dynamic=False,
                              backend=compile_backend, options=compile_options)
    return model
