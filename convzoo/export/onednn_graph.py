"""PyTorch's oneDNN Graph fuser as an inference engine: ``optimize(model, compile="onednn")``."""
from __future__ import annotations

import warnings
from typing import Optional

import torch
from torch import nn

from ._common import relative_error
from .layout import FormatInput


class OneDNNGraphInference(nn.Module):
    """What ``optimize(..., compile="onednn")`` returns: the folded eager model (``.model``) traced
    and frozen with TorchScript and run through PyTorch's oneDNN Graph fuser (``torch.jit.fuser(
    "fuser3")``), which compiles conv + bias + activation + residual-add chains into fused oneDNN
    partitions. Called under ``torch.no_grad``.

    Why it exists next to torch.compile: at batch 1 on a small CPU the inductor path spends more
    time per op in PyTorch's oneDNN glue (~30 us a conv: descriptors, attributes, allocation) than
    in the kernels of MobileNet-size convs; the fused partitions remove most of it (docs/deploy.md).
    ``torch.jit.trace``/``freeze`` are deprecated in favour of torch.compile/torch.export but still
    work in torch 2.14; their FutureWarnings are silenced here, and :func:`optimize` checks the
    traced outputs against eager at build time.
    """

    def __init__(self, model: nn.Module, traced: torch.jit.ScriptModule):
        super().__init__()
        self.model = model
        object.__setattr__(self, "_traced", traced)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the fuser switch itself, not torch.jit.fuser("fuser3"): that also toggles the removed
        # nvFuser and logs a deprecation warning on every call
        was = torch._C._jit_llga_enabled()
        torch._C._jit_set_llga_enabled(True)
        try:
            with torch.no_grad():
                return self._traced(x)
        finally:
            torch._C._jit_set_llga_enabled(was)


def onednn_graph(model: nn.Module, channels_last: bool,
                  example_input: Optional[torch.Tensor]) -> OneDNNGraphInference:
    """Trace and freeze ``model`` (already folded, eval, in its layout) at ``example_input``'s size,
    run it three times (the profiling executor fuses on the 2nd/3rd call) and check it against
    eager; ``RuntimeError`` with one line when the fuser fails or the output differs."""
    if example_input is None:
        raise ValueError('compile="onednn" traces the model: pass example_input (a batch of the '
                         'input size it will run at)')
    wrapped = FormatInput(model, channels_last).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")       # deprecation and tracer warnings (see the class doc)
        traced = torch.jit.freeze(torch.jit.trace(wrapped, (example_input,), check_trace=False))
    fast = OneDNNGraphInference(model, traced)
    with torch.no_grad():
        ref = wrapped(example_input)
        try:
            for _ in range(3):                # the profiling executor fuses on the 2nd/3rd call
                out = fast(example_input)
        except RuntimeError as e:
            # ConvNeXt: "vector::_M_range_check"; any net whose last maps are 1 x 1: "could not create
            # a primitive descriptor for the reorder primitive" (both inside the fuser, torch 2.14)
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            reason = (lines[-1] if lines else type(e).__name__).removeprefix("RuntimeError: ")
            raise RuntimeError(f"oneDNN Graph cannot run {type(model).__name__} ({reason}); use "
                               f"compile=True (inductor) for this model") from None
    err = relative_error(out, ref)
    if not err <= 1e-4:
        raise RuntimeError(f"oneDNN Graph output differs from eager by {err:.1e} of the output scale; "
                           f"use compile=True (inductor) for this model")
    return fast
