"""LiteRT (TensorFlow Lite): a model converted to a ``.tflite`` flatbuffer by litert-torch and run in
the ai-edge-litert interpreter (its XNNPACK delegate on the CPU), fp32 or int8.

    model (eval) -> inference form (branches merged, BN folded, TF padding frozen)
      -> fp32: litert_torch.convert at a fixed (B, C, *S)
      -> int8: torch.export -> PT2E with litert-torch's PT2EQuantizer (symmetric, per-channel
         weights) -> the calibration batches -> convert_pt2e -> litert_torch.convert (static int8)
      -> .tflite bytes (+ a metadata entry ``convzoo_record`` holding what convzoo remembers)
      -> ai_edge_litert Interpreter: :class:`TFLiteProgram`

Every axis is fixed, the batch's included: a batch of another size runs in chunks of the file's
batch, the last chunk padded and the padding cut. A static int8 file takes int8 input and gives int8
output (LiteRT folds the first quantize and the last dequantize into the interface, as a phone app
expects); :class:`TFLiteProgram` quantizes and dequantizes with the file's own scales, so callers
see float32 in and out as with every engine.

The record (model, source, data spec, precision) lives inside the file, as TFLite metadata (a named
buffer of JSON): a ``.tflite`` travels alone, and ``eval``/``predict``/``bench`` of it need no data
flags (:func:`read_record`). The runner is :class:`LiteRTRunner` (:func:`load_tflite` reads a file
back); the registry entry is :mod:`convzoo.export.engines.litert`.

Shape: (B, C, *S) float32 -> the model's output, float32.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..io import atomic_write
from ._common import artifact_error
from .executorch import _native_stderr_muted, require
from .form import inference_form
from .edge_file import calibrate_in_fixed_batches, check_against_eager, write_checked
from .runner import Runner

RECORD_NAME = "convzoo_record"
PRECISIONS = ("fp32", "int8")
_TFLITE_ID = b"TFL3"


def interpreter_module():
    """``ai_edge_litert.interpreter``, or one line naming the ``litert`` extra."""
    return require("ai_edge_litert.interpreter", "litert", "running .tflite files")


def _schema():
    """The TFLite flatbuffer schema (generated Python), shipped with the interpreter."""
    return require("ai_edge_litert.schema_py_generated", "litert", "reading .tflite files")


@contextlib.contextmanager
def _converter_quiet():
    """litert-torch's progress lines (stdout) and the converter's absl log (descriptor 2) muted."""
    key = "LITERT_TORCH_SHOW_PROGRESS"
    saved = os.environ.get(key)
    os.environ[key] = "n"
    try:
        with _native_stderr_muted():
            yield
    finally:
        if saved is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = saved


def _quantized(form: nn.Module, x: torch.Tensor, calibration: Sequence[torch.Tensor]):
    """``form`` through PT2E with litert-torch's quantizer, calibrated on ``calibration`` (in chunks of
    ``x``'s batch: the graph is exported at that fixed shape); the graph and its ``QuantConfig``."""
    pt2e = require("torchao.quantization.pt2e", "deploy", "LiteRT int8")
    qpt2e = require("torchao.quantization.pt2e.quantize_pt2e", "deploy", "LiteRT int8")
    pq = require("litert_torch.quantize.pt2e_quantizer", "litert", "LiteRT int8")
    qc = require("litert_torch.quantize.quant_config", "litert", "LiteRT int8")
    quantizer = pq.PT2EQuantizer().set_global(pq.get_symmetric_quantization_config(is_per_channel=True))
    prepared = qpt2e.prepare_pt2e(torch.export.export(form, (x,)).module(), quantizer)
    calibrate_in_fixed_batches(prepared, calibration, len(x))
    graph = pt2e.move_exported_model_to_eval(qpt2e.convert_pt2e(prepared, fold_quantize=False))
    return graph, qc.QuantConfig(pt2e_quantizer=quantizer)


def convert(model: nn.Module, example_input: torch.Tensor, precision: str = "fp32", *,
            calibration_data=None, subset_size: int = 300, record: Optional[dict] = None) -> bytes:
    """The ``.tflite`` bytes of ``model`` at ``example_input``'s shape (see the module docstring).
    ``calibration_data``: int8 only (a tensor or batches, see :func:`~convzoo.export.quantize.
    calibration_batches`), its first ``subset_size`` samples; ``record``: JSON-ready facts stored in
    the file (:func:`read_record`). ``ValueError`` in one line for a precision it lacks, missing
    calibration data, or a graph the converter refuses."""
    if precision not in PRECISIONS:
        raise ValueError(f"the LiteRT engine runs {' or '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32" and calibration_data is not None:
        raise ValueError("the LiteRT engine at fp32 takes no calibration data")
    lt = require("litert_torch", "litert", "LiteRT export")
    x = example_input.detach().float().cpu()
    form = inference_form(model.eval().cpu(), x[:1], static_padding=True)
    try:
        with _converter_quiet():
            if precision == "int8":
                from .quantize import calibration_batches, check_quantizable
                check_quantizable(model)
                graph, config = _quantized(form, x, calibration_batches(calibration_data, subset_size))
                data = lt.convert(graph, (x,), quant_config=config).model_content()
            else:
                with torch.no_grad():
                    data = lt.convert(form, (x,)).model_content()
    except ValueError:
        raise
    except Exception as e:          # torch.export's, the MLIR lowering's and the converter's errors
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ValueError(f"LiteRT conversion of {type(model).__name__} ({precision}) failed: {first}") from None
    return with_record(bytes(data), {**(record or {}), "precision": precision})


def with_record(data: bytes, record: dict) -> bytes:
    """``data`` (a ``.tflite`` flatbuffer) with ``record`` as its ``convzoo_record`` metadata entry (a
    buffer of JSON), any earlier one replaced. A file whose weights sit outside the flatbuffer (the
    > 2 GB layout) is returned as it is: it then remembers nothing."""
    import flatbuffers
    s = _schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    buffers = model.buffers or []
    if any(b.offset > 1 for b in buffers):
        return data
    payload = np.frombuffer(json.dumps(record, sort_keys=True).encode(), dtype=np.uint8)
    buffers.append(s.BufferT(data=payload))
    model.buffers = buffers
    kept = [m for m in (model.metadata or []) if m.name not in (RECORD_NAME, RECORD_NAME.encode())]
    model.metadata = kept + [s.MetadataT(name=RECORD_NAME, buffer=len(buffers) - 1)]
    builder = _aligned_builder(flatbuffers, len(data) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=_TFLITE_ID)
    return bytes(builder.Output())


def _aligned_builder(flatbuffers, size: int):
    """flatbuffers' Builder with byte arrays 16-byte aligned: the TFLite schema asks it of buffer data
    (``force_align: 16``, so the runtime can read weights in place), and the generated Python's numpy
    path applies only the element's own alignment."""
    class Builder(flatbuffers.Builder):
        _bytes = False

        def CreateNumpyVector(self, x):
            self._bytes = x.dtype == np.uint8
            try:
                return super().CreateNumpyVector(x)
            finally:
                self._bytes = False

        def StartVector(self, elemSize, numElems, alignment):
            return super().StartVector(elemSize, numElems, 16 if self._bytes else alignment)
    return Builder(size)


def _record_of(data: bytes) -> dict:
    """The ``convzoo_record`` metadata's JSON ({} when the file has none or it does not parse)."""
    try:
        m = _schema().Model.GetRootAs(data, 0)
        for i in range(m.MetadataLength()):
            entry = m.Metadata(i)
            if entry.Name() == RECORD_NAME.encode():
                return json.loads(m.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode())
    except Exception:          # a file written elsewhere or damaged: the interpreter says why
        pass
    return {}


def read_record(path: str | os.PathLike) -> dict:
    """What convzoo stored in the ``.tflite`` at ``path`` ({} when nothing, the ``litert`` extra is
    missing or the file cannot be read: its loader says why in one line)."""
    try:
        return _record_of(Path(path).read_bytes())
    except Exception:
        return {}


class TFLiteProgram:
    """A ``.tflite`` model in the ai-edge-litert interpreter on ``threads`` threads (default: PyTorch's
    count, so timings compare). ``input_shape`` is the (B, C, *S) the file fixes; ``record`` the facts
    stored in it ({} for a file written elsewhere); ``precision`` the record's, else int8 when its input
    is quantized. ``RuntimeError`` with the interpreter's own words for a file it refuses."""

    def __init__(self, data: bytes, threads: Optional[int] = None):
        ip = interpreter_module()
        self.data = bytes(data)
        with _native_stderr_muted() as log:
            try:
                self._it = ip.Interpreter(model_content=self.data, num_threads=threads or torch.get_num_threads())
                self._it.allocate_tensors()
            except Exception as e:
                said = [line for line in log.getvalue().splitlines() if line.strip()]
                raise RuntimeError(f"{said[-1]} ({e})" if said else str(e)) from e
        ins, outs = self._it.get_input_details(), self._it.get_output_details()
        if len(ins) != 1 or len(outs) != 1:
            raise RuntimeError(f"the file has {len(ins)} inputs and {len(outs)} outputs; convzoo runs one of each")
        self._in, self._out = ins[0], outs[0]
        self.input_shape = tuple(int(s) for s in self._in["shape"])
        self.threads = threads or torch.get_num_threads()
        self.record = _record_of(self.data)
        quantized = np.dtype(self._in["dtype"]).kind in "iu"
        self.precision = self.record.get("precision", "int8" if quantized else "fp32")

    def check_shape(self, shape: tuple) -> None:
        """``ValueError`` in one line when ``shape`` does not fit the file's input (all but the batch)."""
        want = self.input_shape
        if len(want) != len(shape) or tuple(want[1:]) != tuple(shape[1:]):
            dims = "x".join(["N", *map(str, want[1:])])
            raise ValueError(f"the .tflite model takes input {dims}, got {'x'.join(map(str, shape))}")

    def feed(self, x: torch.Tensor) -> np.ndarray:
        """``x`` (the file's batch) as the input array: float32, or quantized with the file's scale."""
        a = x.detach().float().cpu().numpy()
        dtype = np.dtype(self._in["dtype"])
        if dtype.kind in "iu":
            scale, zero = self._in["quantization"]
            info = np.iinfo(dtype)
            a = np.clip(np.round(a / scale) + zero, info.min, info.max)
        return np.ascontiguousarray(a, dtype=dtype)

    def invoke(self, a: np.ndarray) -> np.ndarray:
        """Run the input array ``a`` (:meth:`feed`); the raw output array (int8 for an int8 file)."""
        self._it.set_tensor(self._in["index"], a)
        self._it.invoke()
        return self._it.get_tensor(self._out["index"])

    def output(self, o: np.ndarray) -> torch.Tensor:
        """A raw output array as float32 (dequantized with the file's scale)."""
        if np.dtype(self._out["dtype"]).kind in "iu":
            scale, zero = self._out["quantization"]
            o = (o.astype(np.float32) - zero) * scale
        return torch.from_numpy(np.array(o, dtype=np.float32))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.check_shape(tuple(x.shape))
        n, outs = self.input_shape[0], []
        for i in range(0, len(x), n):
            chunk = x[i:i + n]
            k = len(chunk)
            if k < n:
                chunk = torch.cat([chunk, chunk[:1].expand(n - k, *chunk.shape[1:])])
            outs.append(self.output(self.invoke(self.feed(chunk)))[:k])
        return torch.cat(outs)


@torch.no_grad()
def verify_tflite(model: nn.Module, program, x: torch.Tensor, *, rtol: Optional[float] = 1e-4,
                  min_agreement: float = 0.9) -> float:
    """``program`` (a :class:`TFLiteProgram` or a runner holding one) against eager ``model`` on ``x``,
    as :func:`~convzoo.export.executorch.verify_pte` checks a ``.pte``: fp32 within ``rtol`` of the
    output scale (None: the bound from fp32's own error on this net) with the same top-1 (near-ties
    forgiven), the error returned; int8 by top-1 agreement (at least ``min_agreement``), returned.
    ``RuntimeError`` otherwise."""
    return check_against_eager(model, program, x, ".tflite", rtol=rtol, min_agreement=min_agreement)


def to_litert(model: nn.Module, path: str | os.PathLike, *, input_size: Optional[Sequence[int]] = None,
              precision: str = "fp32", calibration_data=None, batch: int = 1, verify: bool = True,
              inputs: Optional[torch.Tensor] = None, record: Optional[dict] = None,
              min_agreement: float = 0.9) -> str:
    """Convert ``model`` (:func:`convert`) into a ``.tflite`` file at ``path`` (written atomically);
    return the path. The arguments are :func:`~convzoo.export.to_executorch`'s: ``input_size`` (C, *S),
    default ``default_cfg["input_size"]``; ``batch`` the file's fixed batch; ``verify`` runs the file in
    the interpreter against eager (:func:`verify_tflite`) on ``inputs`` (real images: fp32 within the
    bound from fp32's own error on this net) or on random inputs (fp32 within 1e-4; int8 on the
    calibration inputs). A file that fails is renamed ``<path>.failed-check`` and the error says so;
    ``record``: JSON-ready facts stored in the file."""
    def make(x):
        return convert(model, x, precision, calibration_data=calibration_data, record=record)
    return write_checked(model, path, ".tflite", make, TFLiteProgram, input_size=input_size, precision=precision,
                         calibration_data=calibration_data, batch=batch, verify=verify, inputs=inputs,
                         min_agreement=min_agreement)


class LiteRTRunner(Runner):
    """A ``.tflite`` model in the ai-edge-litert interpreter (:class:`TFLiteProgram` on ``threads``
    threads). ``input_shape`` is the (B, C, *S) the file fixes; ``record`` the facts stored in it;
    ``precision`` the record's unless given."""

    def __init__(self, data: bytes, precision: Optional[str] = None, *, threads: Optional[int] = None):
        super().__init__()
        self.program = TFLiteProgram(data, threads=threads)
        self.input_shape, self.record = self.program.input_shape, self.program.record
        self.precision = precision or self.program.precision
        self.default_cfg = {"input_size": self.input_shape[1:]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.program(x)

    def bind(self, x: torch.Tensor):
        self.program.check_shape(tuple(x.shape))
        if len(x) != self.input_shape[0]:
            return super().bind(x)
        feed = self.program.feed(x)
        return lambda: self.program.invoke(feed)

    def save(self, out_dir: str | os.PathLike) -> dict:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "model.tflite", lambda tmp: Path(tmp).write_bytes(self.program.data))
        return {"file": "model.tflite", "format": self.artifact_format}


def load_tflite(path: str | os.PathLike, *, threads: Optional[int] = None,
                precision: Optional[str] = None) -> LiteRTRunner:
    """A ``.tflite`` file as a LiteRT runner on ``threads`` threads (default PyTorch's), labelled with the
    precision it records (``precision`` overrides); ``default_cfg["input_size"]`` is the (C, *S) the file
    fixes. One line for a missing, truncated or foreign file, or a missing interpreter (the ``litert``
    extra)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no .tflite file at {path}")
    interpreter_module()                   # a missing interpreter: its own line
    try:
        return LiteRTRunner(p.read_bytes(), precision, threads=threads)
    except Exception as e:                 # the interpreter's "Could not open model" / bad flatbuffer
        raise artifact_error(p, "LiteRT model", e) from None


__all__ = ["TFLiteProgram", "LiteRTRunner", "load_tflite", "to_litert", "verify_tflite", "convert", "with_record",
           "read_record", "interpreter_module", "RECORD_NAME", "PRECISIONS"]
