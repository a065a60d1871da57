"""OpenVINO as an inference engine: IR files from the PyTorch model, compiled models, a module wrapper.

``openvino.convert_model`` traces the PyTorch model directly (no ONNX in between); we give it the
inference form (:func:`~convzoo.export.inference_form`: BN folded, TF "SAME" padding frozen,
plain SiLU). The IR is saved with float32 weights (``compress_to_fp16=False``) so that a reloaded
model computes what the PyTorch one does; the *execution* precision is chosen when compiling:
OpenVINO's CPU plugin runs bf16 by default on a CPU with native bf16 (AVX-512 BF16 or AMX),
``precision="fp32"`` asks for f32 (``INFERENCE_PRECISION_HINT``). An int8 IR
(:func:`~convzoo.export.quantize`) runs its quantized ops in int8 and the rest in the hinted
precision.

Data flow: nn.Module -> inference_form -> ov.convert_model(example_input) -> ov.Model
(batch axis dynamic) -> [save_model: DIR/model.xml + model.bin] -> compile for one input shape
(static: faster than a dynamic compile) -> numpy in, numpy out.

Shape: (B, C, *S) float32 -> the model's output, float32.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from .._extras import require
from .runner import Runner

IR_NAME = "model.xml"
_HINTS = {"fp32": "f32", "bf16": "bf16"}


def _ov():
    return require("openvino", "deploy", "the OpenVINO engine")


def to_openvino_model(model: nn.Module, example_input: torch.Tensor, *, fold_bn: bool = True,
                      dynamic_batch: bool = True):
    """The ``ov.Model`` of ``model``'s inference form, traced with ``example_input``."""
    from .form import inference_form
    ov = _ov()
    # no ONNX Runtime rewrites (they are for its NCHWc pass); OpenVINO picks its own layout
    m = inference_form(model, example_input, fold_bn=fold_bn, static_padding=True)
    with torch.no_grad():
        ov_model = ov.convert_model(m, example_input=example_input)
    # the traced graph leaves every axis dynamic: fix the example's size (what the IR was checked at,
    # and what `bench DIR` reads back), the batch axis dynamic unless asked otherwise
    shape = ov.PartialShape([-1 if dynamic_batch else int(example_input.shape[0]),
                             *(int(d) for d in example_input.shape[1:])])
    ov_model.reshape({ov_model.inputs[0]: shape})
    return ov_model


def save_openvino(ov_model, out_dir: str | os.PathLike) -> Path:
    """Write ``ov_model`` as ``out_dir/model.xml`` (+ ``.bin``), float32 weights; returns the xml path.
    Written to a temporary folder first and moved into place, so a failed save leaves nothing."""
    import shutil
    import tempfile
    ov = _ov()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=".tmp-"))
    try:
        ov.save_model(ov_model, str(tmp / IR_NAME), compress_to_fp16=False)
        for name in (IR_NAME, "model.bin"):
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / IR_NAME


def to_openvino(model: nn.Module, out_dir: str | os.PathLike, *, input_size: Optional[tuple] = None,
                fold_bn: bool = True) -> Path:
    """Export ``model`` as OpenVINO IR files in ``out_dir`` (dynamic batch, fixed ``input_size``,
    default: the model's ``default_cfg``). Returns the path of ``model.xml``."""
    from .onnx import example_input_for
    x = example_input_for(model, input_size, 1)
    return save_openvino(to_openvino_model(model, x, fold_bn=fold_bn), out_dir)


def load_openvino(path: str | os.PathLike):
    """Read an IR (a folder holding ``model.xml``, or the xml itself) into an ``ov.Model``; one line
    naming the file for a missing ``.bin`` or a file OpenVINO cannot read."""
    from ._common import artifact_error
    p = Path(path)
    xml = p / IR_NAME if p.is_dir() else p
    if not xml.is_file():
        raise FileNotFoundError(f"no OpenVINO IR at {path} (expected a folder with {IR_NAME} or an .xml file)")
    if not xml.with_suffix(".bin").is_file():
        raise FileNotFoundError(f"{xml} has no weights file beside it ({xml.with_suffix('.bin').name} is missing)")
    core = _ov().Core()
    try:
        return core.read_model(str(xml))
    except (RuntimeError, ValueError, OSError) as e:   # OpenVINO's "Exception from src/..." with its reason last
        raise artifact_error(xml, "OpenVINO IR", e) from None


def compile_openvino(ov_model, input_shape: tuple, *, threads: Optional[int] = None,
                     precision: Optional[str] = None):
    """Compile ``ov_model`` on the CPU for one static ``input_shape``. ``precision=None`` keeps
    OpenVINO's default (bf16 on CPUs with AVX-512 BF16 or AMX); "fp32"/"bf16" set
    ``INFERENCE_PRECISION_HINT``. One stream, latency hint, ``threads`` inference threads
    (default: torch's intra-op count)."""
    ov = _ov()
    if precision is not None and precision not in _HINTS:
        raise ValueError(f"OpenVINO execution precision must be fp32 or bf16, got {precision!r}")
    m = ov_model.clone()
    m.reshape({m.inputs[0]: ov.PartialShape(list(input_shape))})
    cfg = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1",
           "INFERENCE_NUM_THREADS": str(threads or torch.get_num_threads())}
    if precision is not None:
        cfg["INFERENCE_PRECISION_HINT"] = _HINTS[precision]
    return ov.Core().compile_model(m, "CPU", cfg)


def default_precision() -> str:
    """What OpenVINO's CPU plugin executes by default here: bf16 where the CPU has native bf16."""
    from .precision import cpu_precision_support
    return "bf16" if cpu_precision_support()["bf16"] else "fp32"


def ir_precision(ov_model) -> str:
    """"int8" when the IR holds quantize (FakeQuantize) nodes, else "float"."""
    names = {op.get_type_name() for op in ov_model.get_ops()}
    return "int8" if names & {"FakeQuantize", "FakeConvert"} else "float"


class OpenVINOModule(Runner):
    """An ``ov.Model`` called like a PyTorch module (CPU tensors in and out), compiled once per input
    shape. For :func:`convzoo.train.evaluate` and the benchmark; no parameters, no autograd.
    ``precision`` is the execution hint (None: OpenVINO's default); ``.precision`` the real one."""

    def __init__(self, ov_model, *, threads: Optional[int] = None, precision: Optional[str] = None):
        super().__init__()
        self.ov_model, self.threads, self.hint = ov_model, threads, precision
        self.precision = "int8" if ir_precision(ov_model) == "int8" else (precision or default_precision())
        self._compiled: dict = {}

    def bind(self, x: torch.Tensor):
        compiled, xn = self.compiled_for(tuple(x.shape)), np.ascontiguousarray(x.cpu().numpy(), np.float32)
        return lambda: compiled(xn)

    def save(self, out_dir) -> dict:
        save_openvino(self.ov_model, out_dir)
        return {"file": IR_NAME, "format": self.artifact_format, "hint": self.hint}

    def compiled_for(self, shape: tuple):
        shape = tuple(shape)
        if shape not in self._compiled:
            self._compiled[shape] = compile_openvino(self.ov_model, shape, threads=self.threads,
                                                     precision=self.hint)
        return self._compiled[shape]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.compiled_for(tuple(x.shape))(np.ascontiguousarray(x.detach().cpu().numpy(), np.float32))
        return torch.from_numpy(np.asarray(out[0]).copy())


def load_ir(path: str | os.PathLike, *, threads: Optional[int] = None,
            precision: Optional[str] = None) -> OpenVINOModule:
    """An OpenVINO IR as a runner labelled with its real precision (an IR with quantize nodes is int8;
    a float one runs at ``precision``, default OpenVINO's here)."""
    ov_model = load_openvino(path)
    runner = OpenVINOModule(ov_model, threads=threads, precision=precision)
    shape = ov_model.inputs[0].get_partial_shape()
    if shape.rank.is_static and all(d.is_static for d in list(shape)[1:]):
        runner.default_cfg = {"input_size": tuple(int(d.get_length()) for d in list(shape)[1:])}
    return runner


__all__ = ["load_ir", "to_openvino", "to_openvino_model", "save_openvino", "load_openvino", "compile_openvino",
           "OpenVINOModule", "IR_NAME", "default_precision", "ir_precision"]
