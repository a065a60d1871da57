"""PyTorch's oneDNN Graph fuser as an inference engine: ``optimize(model, compile="onednn")``."""
from __future__ import annotations

import copy
import warnings
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.squeeze_excite import SqueezeExcite
from ._common import relative_error, wrap_squeeze_excite
from .layout import FormatInput
from .runner import Runner

# how far a traced copy may be from the float32 eager model (max |diff| / max |ref|) before it is
# refused as a fuser fault: float32 runs the same arithmetic in another order; bf16 rounds every
# activation to an 8-bit mantissa, and on trained nets plain eager bf16 is already 3-6 % off
# (EfficientNet-B0 trained on digits at 32 px: 5.8 %), so a fault, not rounding, is what 10 % catches
_TOLERANCE = {"fp32": 1e-4, "bf16": 0.1}


class PooledSqueezeExcite(nn.Module):
    """A 2D :class:`SqueezeExcite` that squeezes with ``avg_pool2d`` over the whole map, for the
    oneDNN Graph copy only. x -> avg_pool2d(kernel = H x W) -> excite -> x * s.

    Why: the fuser leaves ``aten::mean`` outside its partitions, and PyTorch's mean over a
    channels_last map is slower than an average pool of the map's size (the same mean, summed in
    another order); EfficientNet-B0 in bf16 at batch 1 went from 0.73x to 0.81x of OpenVINO's
    default with it (docs/deploy.md). Tracing fixes H and W, as the fuser does anyway.
    Shape: (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(self, se: SqueezeExcite):
        super().__init__()
        self.se = se

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.se.excite(F.avg_pool2d(x, x.shape[-2:]))


def pool_squeeze_excite(model: nn.Module) -> nn.Module:
    """Wrap (in place) every 2D :class:`SqueezeExcite` of ``model`` as :class:`PooledSqueezeExcite`."""
    return wrap_squeeze_excite(model, PooledSqueezeExcite)


class OneDNNGraphInference(Runner):
    """What ``optimize(..., compile="onednn")`` returns: the folded eager model (``.model``) traced
    and frozen with TorchScript and run through PyTorch's oneDNN Graph fuser (``torch.jit.fuser(
    "fuser3")``), which compiles conv + bias + activation + residual-add chains into fused oneDNN
    partitions. Called under ``torch.no_grad``. With ``dtype=torch.bfloat16`` the traced copy holds
    bf16 weights: the input is cast to bf16 on the way in and the output back to float32.

    Why it exists next to torch.compile: at batch 1 on a small CPU the inductor path spends more
    time per op in PyTorch's oneDNN glue (~30 us a conv: descriptors, attributes, allocation) than
    in the kernels of MobileNet-size convs; the fused partitions remove most of it (docs/deploy.md).
    ``torch.jit.trace``/``freeze`` are deprecated in favour of torch.compile/torch.export but still
    work in torch 2.14; their FutureWarnings are silenced here, and :func:`optimize` checks the
    traced outputs against eager at build time.
    """

    def __init__(self, model: Optional[nn.Module], traced: torch.jit.ScriptModule,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        self.model, self.dtype = model, dtype
        self.precision = "bf16" if dtype == torch.bfloat16 else "fp32"
        object.__setattr__(self, "_traced", traced)

    def save(self, out_dir) -> dict:
        """The frozen TorchScript graph as ``model.ts`` (reloaded with :func:`load_onednn_graph`)."""
        from pathlib import Path
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        torch.jit.save(self._traced, str(out / "model.ts"))
        return {"file": "model.ts", "format": self.artifact_format}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the fuser switch itself, not torch.jit.fuser("fuser3"): that also toggles the removed
        # nvFuser and logs a deprecation warning on every call
        was = torch._C._jit_llga_enabled()
        torch._C._jit_set_llga_enabled(True)
        try:
            with torch.no_grad():
                if self.dtype == torch.float32:
                    return self._traced(x)
                return self._traced(x.to(self.dtype)).float()
        finally:
            torch._C._jit_set_llga_enabled(was)


def load_onednn_graph(path, precision: str = "fp32") -> OneDNNGraphInference:
    """A graph saved by :meth:`OneDNNGraphInference.save`, run through the fuser again."""
    traced = torch.jit.load(str(path), map_location="cpu")
    return OneDNNGraphInference(None, traced, torch.bfloat16 if precision == "bf16" else torch.float32)


def onednn_graph(model: nn.Module, channels_last: bool, example_input: Optional[torch.Tensor],
                 precision: str = "fp32") -> OneDNNGraphInference:
    """Trace and freeze ``model`` (already folded, eval, in its layout; float32) at
    ``example_input``'s size, in ``precision`` ("fp32" or "bf16": bf16 weights), with its 2D
    squeeze-excite pooled as :class:`PooledSqueezeExcite`; run it three times (the profiling executor
    fuses on the 2nd/3rd call) and check it against the float32 eager model (``_TOLERANCE``);
    ``RuntimeError`` with one line when the fuser fails or the output differs."""
    if example_input is None:
        raise ValueError('compile="onednn" traces the model: pass example_input (a batch of the '
                         'input size it will run at)')
    if precision not in _TOLERANCE:
        raise ValueError(f"the oneDNN Graph engine runs {' or '.join(_TOLERANCE)}, got {precision!r}")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    with torch.no_grad():
        ref = FormatInput(model, channels_last).eval()(example_input)
    traced_model = pool_squeeze_excite(copy.deepcopy(model)).to(dtype)
    wrapped = FormatInput(traced_model, channels_last).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")       # deprecation and tracer warnings (see the class doc)
        traced = torch.jit.freeze(torch.jit.trace(wrapped, (example_input.to(dtype),), check_trace=False))
    fast = OneDNNGraphInference(model, traced, dtype)
    with torch.no_grad():
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
    if not err <= _TOLERANCE[precision]:
        raise RuntimeError(f"oneDNN Graph output differs from eager by {err:.1e} of the output scale; "
                           f"use compile=True (inductor) for this model")
    return fast
