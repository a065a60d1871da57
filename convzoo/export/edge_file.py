"""A one-file edge artifact (ExecuTorch's ``.pte``, LiteRT's ``.tflite``): checked against eager
PyTorch, written atomically, and kept aside under another name when the check fails.

    model --the backend's bytes (lower / convert)--> atomic write at PATH
          --the file in its runtime vs eager on the check inputs-->
             fp32: max |diff| / max |eager| within the bound, the same top-1 (near-ties forgiven)
             int8: top-1 agreement with eager fp32 of at least ``min_agreement``
          --failed--> PATH renamed PATH.failed-check, the error saying so

The two backends differ only in how they make the bytes and run them; the checks and the file
protocol are the same, so they live here once.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch
from torch import nn

from ..io import atomic_write
from ._common import set_aside


@torch.no_grad()
def calibrate_in_fixed_batches(prepared: Callable, calibration: Sequence[torch.Tensor], n: int) -> None:
    """Feed each calibration batch to a PT2E-prepared graph exported at batch ``n``, in chunks of ``n``
    (the last padded with copies of its first sample: the graph takes no other shape)."""
    for b in calibration:
        for i in range(0, len(b), n):
            chunk = b[i:i + n]
            if len(chunk) < n:
                chunk = torch.cat([chunk, chunk[:1].expand(n - len(chunk), *chunk.shape[1:])])
            prepared(chunk)


def _check_int8(got: torch.Tensor, ref: torch.Tensor, min_agreement: float, kind: str) -> float:
    """Top-1 agreement of ``got`` with eager's ``ref``; ``RuntimeError`` below ``min_agreement``."""
    if ref.dim() != 2 or ref.shape[1] < 2:       # not logits (a segmenter): the per-pixel top-1
        got, ref = got.movedim(1, -1).flatten(0, -2), ref.movedim(1, -1).flatten(0, -2)
    agree = float((got.argmax(1) == ref.argmax(1)).float().mean())
    if agree < min_agreement:
        raise RuntimeError(f"the int8 {kind} agrees with eager fp32 on the top-1 of {100 * agree:.1f} % of the "
                           f"inputs (needed {100 * min_agreement:.0f} %)")
    return agree


@torch.no_grad()
def check_against_eager(model: nn.Module, program: Callable, x: torch.Tensor, kind: str, *,
                        rtol: Optional[float] = 1e-4, min_agreement: float = 0.9) -> float:
    """``program`` (a callable with ``precision``: the file in its runtime) against eager ``model`` on
    ``x``. fp32: the max abs difference relative to max |eager| within ``rtol`` (None: the bound from
    fp32's own error on this net, :func:`~convzoo.export.onnx.fp32_error_bound`) with the same top-1
    (near-ties forgiven), the error returned; int8: top-1 agreement of at least ``min_agreement``,
    returned. ``RuntimeError`` naming ``kind`` (".pte", ".tflite") otherwise."""
    from ._common import relative_error
    from .onnx import _agreement, fp32_error_bound
    was_training = model.training
    ref = model.eval()(x).float()
    model.train(was_training)
    got = program(x).float()
    if got.shape != ref.shape:
        raise RuntimeError(f"the {kind} output shape {tuple(got.shape)} differs from eager {tuple(ref.shape)}")
    if program.precision == "int8":
        return _check_int8(got, ref, min_agreement, kind)
    err = relative_error(got, ref)
    bound = fp32_error_bound(model, x) if rtol is None else rtol
    if not err <= bound:
        raise RuntimeError(f"the {kind} output differs from eager PyTorch: max abs diff is {err:.2e} of the "
                           f"output scale (allowed {bound:.0e})")
    if _agreement(got.numpy(), ref.numpy(), bound) < 1.0:
        raise RuntimeError(f"the {kind}'s top-1 differs from eager PyTorch on an input that is not a near-tie")
    return err


def write_checked(model: nn.Module, path: str | os.PathLike, kind: str, make: Callable[[torch.Tensor], bytes],
                  run: Callable[[bytes], Callable], *, input_size: Optional[Sequence[int]], precision: str,
                  calibration_data, batch: int, verify: bool, inputs: Optional[torch.Tensor],
                  min_agreement: float) -> str:
    """``make(x)``'s bytes written atomically at ``path`` (``x`` the (batch, C, *S) example input), then,
    with ``verify``, ``run(bytes)`` checked against eager (:func:`check_against_eager`) on ``inputs``
    (real images: fp32 within the bound from fp32's own error), else on the calibration inputs (int8:
    random inputs tell nothing of top-1) or on random inputs (fp32 within 1e-4). A file that fails is
    renamed ``<path>.failed-check`` and the error says so. Returns the path."""
    from .onnx import example_input_for
    p = os.fspath(path)
    if os.path.isdir(p):
        raise ValueError(f"a {kind} file is written: {p} is an existing directory (give a path ending in {kind})")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    data = make(example_input_for(model, input_size, batch))
    atomic_write(p, lambda tmp: Path(tmp).write_bytes(data))
    if not verify:
        return p
    x, rtol, _ = check_inputs(model, input_size, calibration_data if precision == "int8" else None, inputs)
    try:
        check_against_eager(model, run(data), x, kind, rtol=rtol, min_agreement=min_agreement)
    except (RuntimeError, ValueError) as e:
        raise set_aside(p, e) from None
    return p


def check_inputs(model: nn.Module, input_size: Optional[Sequence[int]], calibration_data=None,
                 inputs: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, Optional[float], str]:
    """What a file is checked on, with its fp32 bound and what it is: real ``inputs`` (the bound from
    fp32's own error on this net: None), else up to 64 of the int8 ``calibration_data`` (random inputs
    tell nothing of top-1), else 2 random inputs (1e-4). The third item is "inputs", "calibration" or
    "random"."""
    from .onnx import example_input_for
    if inputs is not None:
        return inputs, None, "inputs"
    if calibration_data is not None:
        from .quantize import calibration_batches
        return torch.cat(calibration_batches(calibration_data, 64)), 1e-4, "calibration"
    return example_input_for(model, input_size, 2), 1e-4, "random"
