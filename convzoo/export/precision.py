"""Reduced-precision inference in PyTorch: which precisions this machine runs fast, and bf16 copies.

On CPU, bf16 pays where the CPU has native bf16 dot products and oneDNN is built in: AVX-512 BF16
(``avx512_bf16``: AMD Zen 4, Intel Cooper Lake and later; the machine of docs/deploy.md, an AMD
EPYC, gains 1.3-2.6x over fp32 with it) or Intel AMX tiles (``amx_bf16``, faster still). Without
either, PyTorch emulates bf16 and it is slower than fp32, so we refuse with one line rather than run
silently slow. int8 needs VNNI (``avx512_vnni``/``amx_int8``/``avx_vnni``).

On CUDA the same names map to automatic mixed precision (``torch.autocast``): bf16 and fp16.

Data flow of a bf16 copy (:class:`CastInput`): float32 input -> bf16 (channels_last) -> bf16
weights (BN already folded into the convs) -> bf16 output -> float32.

Shape: any; the output has the model's shape, float32.
"""
from __future__ import annotations

import functools
from typing import Optional

import torch
from torch import nn

from .layout import to_channels_last

PRECISIONS = ("fp32", "bf16", "int8")
CUDA_PRECISIONS = ("fp32", "bf16", "fp16")

_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
_INT8_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni")


@functools.lru_cache(maxsize=None)
def _cpuinfo(key: str) -> str:
    """The value of the first ``key : value`` line of Linux ``/proc/cpuinfo``; "" where unreadable."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_flags() -> frozenset:
    """The CPU feature flags (Linux ``/proc/cpuinfo``); empty where they cannot be read."""
    return frozenset(_cpuinfo("flags").split())


def cpu_model_name() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), for benchmark reports; "?" where unknown."""
    return _cpuinfo("model name") or "?"


def cpu_precision_support() -> dict:
    """Which reduced precisions this CPU runs natively: ``{"bf16": flag or None, "int8": ...}``
    naming the fastest flag present (``amx_*`` before AVX-512)."""
    flags = cpu_flags()
    mkldnn = torch.backends.mkldnn.is_available()
    return {"bf16": next((f for f in _BF16_FLAGS if f in flags), None) if mkldnn else None,
            "int8": next((f for f in _INT8_FLAGS if f in flags), None)}


def check_precision(precision: str, device: str | torch.device = "cpu") -> str:
    """Validate ``precision`` for ``device``; raise ``ValueError`` (one line) where it is unknown or
    this CPU has no native support for it. Returns the precision."""
    dev = torch.device(device).type
    names = CUDA_PRECISIONS if dev == "cuda" else PRECISIONS
    if precision not in names:
        raise ValueError(f"precision must be one of {', '.join(names)} on {dev}, got {precision!r}")
    if dev == "cuda" or precision == "fp32":
        return precision
    if dev != "cpu":
        raise ValueError(f"precision {precision!r} is supported on cpu and cuda, not {dev}")
    if cpu_precision_support()[precision] is None:
        need = _BF16_FLAGS if precision == "bf16" else _INT8_FLAGS
        extra = " and PyTorch built with oneDNN" if precision == "bf16" else ""
        raise ValueError(f"this CPU has no native {precision} support (needs one of "
                         f"{', '.join(need)}{extra}); use precision='fp32'")
    return precision


class CastInput(nn.Module):
    """Run ``model`` in ``dtype``: cast the input in (channels_last when ``channels_last``), the
    output back to float32. ``autocast=True`` (CUDA AMP) keeps float32 weights and runs the model
    under ``torch.autocast`` instead of casting the input.

    Shape: input (B, C, *S) float32 -> output the model's, float32.
    """

    def __init__(self, model: nn.Module, dtype: torch.dtype, channels_last: bool = False,
                 autocast: bool = False):
        super().__init__()
        self.model, self.dtype, self.channels_last, self.autocast = model, dtype, channels_last, autocast

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = to_channels_last(x)
        if self.autocast:
            with torch.autocast(x.device.type, dtype=self.dtype):
                return self.model(x).float()
        return self.model(x.to(self.dtype)).float()


def to_reduced(model: nn.Module, precision: str, channels_last: bool,
               device: Optional[torch.device] = None) -> nn.Module:
    """Wrap an (already folded, eval) ``model`` for ``precision`` ("bf16"/"fp16"): converted bf16
    weights on CPU, AMP on CUDA. fp32 returns ``model`` itself."""
    if precision == "fp32":
        return model
    p = next(iter(model.parameters()), None)
    dev = device or (p.device if p is not None else torch.device("cpu"))
    check_precision(precision, dev)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    if dev.type == "cuda":
        return CastInput(model, dtype, channels_last, autocast=True)
    # converted weights, not autocast: autocast re-casts every weight on every call in eager mode;
    # bf16 parameters are cast once, and inductor's freezing pre-packs them for oneDNN
    return CastInput(model.to(dtype), dtype, channels_last)


__all__ = ["PRECISIONS", "CUDA_PRECISIONS", "cpu_flags", "cpu_model_name", "cpu_precision_support", "check_precision",
           "CastInput", "to_reduced"]
