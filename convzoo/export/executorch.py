"""ExecuTorch with the XNNPACK delegate: a model lowered to a ``.pte`` program and run in the
ExecuTorch runtime, fp32 or int8.

    model (eval) -> inference form (branches merged, BN folded, TF padding frozen)
      -> torch.export at a fixed (B, C, *S)
      -> int8 only: PT2E with the XNNPACK quantizer (symmetric, per-channel weights) -> the
         calibration batches -> convert_pt2e -> torch.export of the quantized graph
      -> to_edge_transform_and_lower(partitioner=[XnnpackPartitioner()]) -> to_executorch
      -> .pte bytes (+ a ``convzoo_record`` method holding what convzoo remembers of the source)
      -> executorch.runtime Program -> Method "forward": :class:`ExecuTorchRunner`

Every axis is fixed, the batch's included (XNNPACK plans its buffers for one shape): the runner runs
a batch of another size in chunks of the file's batch, the last chunk padded and the padding cut.

The record (model, source, data spec, precision) lives inside the file, as a constant method
returning its JSON as a uint8 tensor: a ``.pte`` travels alone, and ``eval``/``predict``/``bench``
of it need no data flags (:func:`read_record`).

Shape: (B, C, *S) float32 -> the model's output, float32.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import nn

from .._extras import require as _require
from ..io import atomic_write
from .form import inference_form
from ._common import ArtifactError, artifact_error
from .edge_file import calibrate_in_fixed_batches, check_against_eager, write_checked
from .runner import Runner

RECORD_METHOD = "convzoo_record"
PRECISIONS = ("fp32", "int8")


def require(module: str, extra: str, purpose: str):
    """:func:`convzoo._extras.require`, with torch's pytree logger muted during the import: torchao
    registers an Enum as a pytree constant, which torch 2.14 logs as a deprecation on every import."""
    import logging
    log = logging.getLogger("torch.utils._pytree")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        return _require(module, extra, purpose)
    finally:
        log.setLevel(level)


def _lowering_modules():
    """executorch's exir and XNNPACK partitioner, or one line naming the ``edge`` extra."""
    exir = require("executorch.exir", "edge", "ExecuTorch export")
    part = require("executorch.backends.xnnpack.partition.xnnpack_partitioner", "edge", "ExecuTorch export")
    return exir, part


def _quantized_graph(form: nn.Module, x: torch.Tensor, calibration: Sequence[torch.Tensor]) -> nn.Module:
    """``form`` through PT2E with the XNNPACK quantizer, calibrated on ``calibration`` (each batch fed
    in chunks of ``x``'s batch: the graph is exported at that fixed shape)."""
    pt2e = require("torchao.quantization.pt2e.quantize_pt2e", "edge", "ExecuTorch int8")
    xq = require("executorch.backends.xnnpack.quantizer.xnnpack_quantizer", "edge", "ExecuTorch int8")
    quantizer = xq.XNNPACKQuantizer()
    quantizer.set_global(xq.get_symmetric_quantization_config(is_per_channel=True))
    graph = torch.export.export(form, (x,)).module()
    prepared = pt2e.prepare_pt2e(graph, quantizer)
    calibrate_in_fixed_batches(prepared, calibration, len(x))
    return pt2e.convert_pt2e(prepared)


def lower(model: nn.Module, example_input: torch.Tensor, precision: str = "fp32", *,
          calibration_data=None, subset_size: int = 300, record: Optional[dict] = None) -> bytes:
    """The ``.pte`` bytes of ``model`` at ``example_input``'s shape (see the module docstring).
    ``calibration_data``: int8 only (a tensor or batches, see :func:`~convzoo.export.quantize.
    calibration_batches`), its first ``subset_size`` samples; ``record``: JSON-ready facts stored
    in the file (:func:`read_record`).
    ``ValueError`` in one line for a precision it lacks, missing calibration data, or a graph
    ``torch.export`` / the lowering refuses."""
    if precision not in PRECISIONS:
        raise ValueError(f"the executorch engine runs {' or '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32" and calibration_data is not None:
        raise ValueError("the executorch engine at fp32 takes no calibration data")
    exir, part = _lowering_modules()
    x = example_input.detach().float().cpu()
    form = inference_form(model.eval().cpu(), x[:1], static_padding=True)
    try:
        if precision == "int8":
            from .quantize import calibration_batches, check_quantizable
            check_quantizable(model)
            form = _quantized_graph(form, x, calibration_batches(calibration_data, subset_size))
        with torch.no_grad():
            program = torch.export.export(form, (x,))
        meta = {RECORD_METHOD: _record_tensor({**(record or {}), "precision": precision})}
        edge = exir.to_edge_transform_and_lower(program, partitioner=[part.XnnpackPartitioner()],
                                                constant_methods=meta)
        return edge.to_executorch().buffer
    except (RuntimeError, TypeError, AssertionError, NotImplementedError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ValueError(f"ExecuTorch lowering of {type(model).__name__} ({precision}) failed: {first}") from None


def _record_tensor(record: dict) -> torch.Tensor:
    return torch.tensor(list(json.dumps(record, sort_keys=True).encode()), dtype=torch.uint8)


@contextlib.contextmanager
def _native_stderr_muted():
    """The runtime's log lines (cpuinfo probing, a damaged file's loader errors: written to
    ``sys.stderr`` and, from C++, to file descriptor 2) are muted while a program loads; the Python
    ones are kept in the yielded buffer, so a failure can say the loader's own words in one line."""
    kept = io.StringIO()
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):     # no real descriptor 2 (an embedding host)
        saved = None
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        if saved is not None:
            os.dup2(devnull, 2)
        with contextlib.redirect_stderr(kept):
            yield kept
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
        os.close(devnull)


def load_program(data: bytes):
    """``data`` as an ``executorch.runtime`` Program (internal-consistency verification: a damaged file
    is refused, not run), the runtime's log muted; ``RuntimeError`` with the loader's last log line
    (e.g. "File size is too small ...") when it refuses."""
    rt = runtime()
    with _native_stderr_muted() as log:
        try:
            return rt.Runtime.get().load_program(data, verification=rt.Verification.InternalConsistency)
        except Exception as e:
            said = [line.split("] ", 1)[-1] for line in log.getvalue().splitlines() if line.strip()]
            raise RuntimeError(f"{said[-1]} ({e})" if said else str(e)) from e


def runtime():
    """The ExecuTorch runtime module (``executorch.runtime``), or one line naming the ``edge`` extra."""
    return require("executorch.runtime", "edge", "running .pte files")


class MissingOperatorError(RuntimeError):
    """A well-formed ``.pte`` whose graph uses an operator that neither the XNNPACK delegate took nor
    this runtime has a kernel for (ExecuTorch's ``OperatorMissing``, 0x14)."""


class ExecuTorchRunner(Runner):
    """A ``.pte`` program in the ExecuTorch runtime. ``program`` holds the file's bytes (the runner
    saves itself as ``model.pte``); ``input_shape`` is the (B, C, *S) the program fixes; ``record`` the
    facts stored in the file ({} for a file written elsewhere)."""

    def __init__(self, program: bytes, precision: Optional[str] = None):
        super().__init__()
        self.program = bytes(program)
        self._program = load_program(self.program)
        with _native_stderr_muted() as log:
            try:
                self._method = self._program.load_method("forward")
            except Exception as e:
                missing = list(dict.fromkeys(ln.split("Missing operator:", 1)[1].split("]", 1)[-1].strip()
                                             for ln in log.getvalue().splitlines() if "Missing operator:" in ln))
                if not missing:
                    raise
                raise MissingOperatorError(
                    f"the program needs operator(s) this ExecuTorch runtime has no kernel for: "
                    f"{', '.join(missing)} (left outside the XNNPACK delegate)") from e
        meta = self._method.metadata.input_tensor_meta(0)
        self.input_shape = tuple(int(s) for s in meta.sizes())
        self.record = _read_record(self._program)
        self.precision = precision or self.record.get("precision", "fp32")
        self.default_cfg = {"input_size": self.input_shape[1:]}

    def check_shape(self, shape: tuple) -> None:
        """``ValueError`` in one line when ``shape`` does not fit the program's input (all but the batch)."""
        want = self.input_shape
        if len(want) != len(shape) or tuple(want[1:]) != tuple(shape[1:]):
            dims = "x".join(["N", *map(str, want[1:])])
            raise ValueError(f"the .pte program takes input {dims}, got {'x'.join(map(str, shape))}")

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        return self._method.execute([x])[0].clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_shape(tuple(x.shape))
        x = x.detach().float().cpu().contiguous()
        n = self.input_shape[0]
        if len(x) == n:
            return self._run(x)
        outs = []
        for i in range(0, len(x), n):
            chunk = x[i:i + n]
            k = len(chunk)
            if k < n:
                chunk = torch.cat([chunk, chunk[:1].expand(n - k, *chunk.shape[1:])])
            outs.append(self._run(chunk.contiguous())[:k])
        return torch.cat(outs)

    def bind(self, x: torch.Tensor):
        self.check_shape(tuple(x.shape))
        if len(x) != self.input_shape[0]:
            return super().bind(x)
        feed = [x.detach().float().cpu().contiguous()]
        return lambda: self._method.execute(feed)

    def save(self, out_dir: str | os.PathLike) -> dict:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "model.pte", lambda tmp: Path(tmp).write_bytes(self.program))
        return {"file": "model.pte", "format": self.artifact_format}


def _read_record(program) -> dict:
    """The ``convzoo_record`` method's JSON ({} when the file has none or it does not parse)."""
    try:
        if RECORD_METHOD not in program.method_names:
            return {}
        with _native_stderr_muted():
            raw = program.load_method(RECORD_METHOD).execute([])[0]
        return json.loads(bytes(raw.to(torch.uint8).tolist()).decode())
    except Exception:          # a file written elsewhere: it runs, it just remembers nothing
        return {}


def read_record(path: str | os.PathLike) -> dict:
    """What convzoo stored in the ``.pte`` at ``path`` ({} when nothing, the runtime is missing or the
    file cannot be read: its loader says why in one line)."""
    try:
        return _read_record(load_program(Path(path).read_bytes()))
    except Exception:
        return {}


@torch.no_grad()
def verify_pte(model: nn.Module, runner: "ExecuTorchRunner", x: torch.Tensor, *, rtol: Optional[float] = 1e-4,
               min_agreement: float = 0.9) -> float:
    """``runner`` (a ``.pte`` in the runtime) against eager ``model`` on ``x``. fp32: the max abs
    difference relative to max |eager| must stay within ``rtol`` (None: the bound from fp32's own error
    on this net, :func:`~convzoo.export.onnx.fp32_error_bound`) with the same top-1 (near-ties
    forgiven), returned; int8: the top-1 must agree
    on at least ``min_agreement`` of the inputs, the agreement returned. ``RuntimeError`` otherwise."""
    return check_against_eager(model, runner, x, ".pte", rtol=rtol, min_agreement=min_agreement)


def to_executorch(model: nn.Module, path: str | os.PathLike, *, input_size: Optional[Sequence[int]] = None,
                  precision: str = "fp32", calibration_data=None, batch: int = 1, verify: bool = True,
                  inputs: Optional[torch.Tensor] = None, record: Optional[dict] = None,
                  min_agreement: float = 0.9) -> str:
    """Lower ``model`` (:func:`lower`) into a ``.pte`` file at ``path`` (written atomically); return the path.

    ``input_size`` (C, *S), default ``default_cfg["input_size"]``; ``batch`` the file's fixed batch.
    ``verify``: run the file in the ExecuTorch runtime against eager (:func:`verify_pte`) on ``inputs``
    (real images: fp32 within the bound derived from fp32's own error on this net) or on random inputs
    (fp32 within 1e-4; int8 on the calibration inputs instead, random ones telling nothing of top-1).
    A file that fails is renamed ``<path>.failed-check`` and the error says so; ``verify=False`` skips
    the check. ``record``: JSON-ready facts stored in the file (``convzoo export`` stores the run's
    data spec there)."""
    def make(x):
        return lower(model, x, precision, calibration_data=calibration_data, record=record)
    return write_checked(model, path, ".pte", make, ExecuTorchRunner, input_size=input_size, precision=precision,
                         calibration_data=calibration_data, batch=batch, verify=verify, inputs=inputs,
                         min_agreement=min_agreement)


def load_pte(path: str | os.PathLike, *, precision: Optional[str] = None) -> ExecuTorchRunner:
    """A ``.pte`` file as an ExecuTorch runner labelled with the precision it records (``precision``
    overrides); ``default_cfg["input_size"]`` is the (C, *S) the program fixes. One line for a missing,
    truncated or foreign file, or a missing runtime (the ``edge`` extra)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no .pte file at {path}")
    runtime()                              # a missing runtime: its own line, not "not a readable file"
    try:
        return ExecuTorchRunner(p.read_bytes(), precision)
    except MissingOperatorError as e:      # a well-formed program this runtime cannot run
        raise ArtifactError(f"{p}: {e}") from None
    except Exception as e:                 # the runtime's "Failed to load program" / InvalidProgram
        raise artifact_error(p, "ExecuTorch program", e) from None


__all__ = ["ExecuTorchRunner", "to_executorch", "verify_pte", "lower", "load_program", "read_record", "runtime",
           "RECORD_METHOD", "PRECISIONS", "load_pte"]
