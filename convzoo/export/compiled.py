"""torch.compile (inductor) as a runner: :class:`CompiledInference`, shared by the fp32/bf16 engine
and the PT2E int8 path; and :class:`PackagedInference`, the same inductor code compiled ahead of time
into an AOTInductor package that reloads without compiling (what PT2E int8 is built and saved as)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from .runner import Runner, batch_of_two, save_program


class CompiledInference(Runner):
    """What ``optimize(..., compile=True)`` returns: the folded eager model (``.model``) and its
    compiled form, called under ``torch.no_grad`` with inductor's freezing switched on.

    Why a wrapper: inductor reads ``freezing`` when the graph is compiled, which happens lazily on the
    first call, and in torch 2.14 a ``freezing`` entry in ``torch.compile(options=...)`` is applied too
    late to take effect (checked: no oneDNN weight pre-packing happens). Setting the config around
    each call makes freezing apply to the first compile and to any recompile (a new input shape).
    Freezing needs grad disabled, hence ``no_grad``; this is an inference copy.

    The switch is a plain attribute set and restore, and only when the value differs: the
    ``inductor_config.patch`` context manager costs ~30 us a call (measured), 0.4 % of a batch-1
    MobileNetV2 call; this costs ~1 us when nothing needs changing.
    """

    def __init__(self, model: nn.Module, compiled, freeze: bool, precision: str = "fp32",
                 exportable: Optional[nn.Module] = None, example_input: Optional[torch.Tensor] = None):
        super().__init__()
        self.model, self.precision = model, precision
        object.__setattr__(self, "_compiled", compiled)   # not a child: .model is the one copy
        object.__setattr__(self, "_exportable", exportable)
        self.freeze = freeze
        self._example = batch_of_two(example_input)

    def save(self, out_dir) -> dict:
        """What was compiled, as a ``torch.export`` program (``model.pt2``), compiled again on load
        (:func:`compile_program`); needs the ``exportable`` module and an example input."""
        if self._exportable is None or self._example is None:
            return super().save(out_dir)
        save_program(self._exportable, self._example, out_dir)
        return {"file": "model.pt2", "format": self.artifact_format}

    def forward(self, *args, **kwargs):
        import torch._inductor.config as inductor_config
        with torch.no_grad():
            before = inductor_config.freezing
            if before == self.freeze:
                return self._compiled(*args, **kwargs)
            inductor_config.freezing = self.freeze
            try:
                return self._compiled(*args, **kwargs)
            finally:
                inductor_config.freezing = before


# Dynamo caches compiled graphs per code object: every model compiled through the same wrapper class
# (FormatInput.forward, GraphModule.forward) is a "recompile" of that one code object, and with
# fullgraph=True the 9th model in a process failed outright (FailOnRecompileLimitHit: bench/precision.py
# died at its 9th compile, convnext_tiny, 2026-12-06). Each compile here raises the limit by one model.
_MODELS_PER_CODE_OBJECT = 8


def torch_compile(module: nn.Module, **kwargs):
    """``torch.compile(module, **kwargs)``, with Dynamo's recompile limit raised so that any number of
    models can be compiled in one process (each keeps its own guards; nothing is recompiled twice)."""
    import torch._dynamo.config as dynamo_config
    dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, 1) + _MODELS_PER_CODE_OBJECT
    dynamo_config.accumulated_recompile_limit = max(dynamo_config.accumulated_recompile_limit,
                                                    4 * dynamo_config.recompile_limit)
    return torch.compile(module, **kwargs)


def compile_program(module: nn.Module, precision: str) -> CompiledInference:
    """A loaded ``torch.export`` program compiled as the compile engine does (inductor, freezing,
    ``cpp_wrapper``, static shapes)."""
    compiled = torch_compile(module, fullgraph=True, dynamic=False, options={"cpp_wrapper": True})
    return CompiledInference(module, compiled, True, precision)


PACKAGE = "aotinductor"       # deploy.json's chosen["package"] for a PackagedInference file
PACKAGE_RTOL = 0.05           # a package may differ from its graph run eagerly by this much of the output scale
SAME_AS_COMPILE = 1e-4        # ... or, int8, from torch.compile of the graph by this much (bit for bit, measured)


class PackagedInference(CompiledInference):
    """An AOTInductor package (``model.pt2``): the program compiled ahead of time by inductor (freezing
    on: weights constant-folded and pre-packed for oneDNN, q/dq pairs lowered to oneDNN int8 kernels)
    into a shared library plus its weights, run by ``torch._inductor.aoti_load_package``.

    Why: a ``torch.compile``d program lives only in the process that compiled it, and a saved
    ``torch.export`` program must be compiled again wherever it is loaded (minutes for ConvNeXt-T on 2
    cores; a PT2E one also needs torchao imported before ``torch.export.load`` can read its q/dq ops).
    The package is the compiled code itself: the runner built in-process *is* the loaded package, so
    the saved file computes bit for bit what was checked, and loading it takes seconds.

    ``batch``: None for a package with a dynamic batch axis (any batch); else the one batch a static
    package was compiled for: a smaller batch is padded up to it, a larger one run in chunks of it
    (samples are independent at inference, so the outputs are the same, at the cost of the padding).
    ``model``: the graph it was compiled from (None when reloaded from a file)."""

    def __init__(self, package: bytes, precision: str, model: Optional[nn.Module] = None,
                 batch: Optional[int] = None):
        loaded = _load_package_bytes(package)
        super().__init__(model if model is not None else nn.Identity(), loaded, True, precision)
        self._package, self.batch = package, batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the compiled code indexes its input as a dense row-major tensor and does not check its strides:
        # a strided view (x[1::2]) would be read as other samples (measured: ConvNeXt-T on photos x[1::2]
        # gave other crops' logits, 182 % of the output scale off); a slice's offset is honoured
        x = x.contiguous()
        with torch.no_grad():
            b = self.batch
            if b is None or len(x) == b:
                return self._compiled(x)
            outs = []
            for i in range(0, len(x), b):
                chunk = x[i:i + b]
                n = len(chunk)
                if n < b:
                    chunk = torch.cat([chunk, chunk[:1].expand(b - n, *chunk.shape[1:])])
                outs.append(self._compiled(chunk)[:n])
            return torch.cat(outs)

    def save(self, out_dir) -> dict:
        """The package's bytes as ``out_dir/model.pt2`` (atomic write); the fields that reload it."""
        from ..io import atomic_write_bytes
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(out_dir) / "model.pt2", self._package)
        return {"file": "model.pt2", "format": self.artifact_format, "package": PACKAGE, "package_batch": self.batch}


def _load_package_bytes(package: bytes):
    """``aoti_load_package`` on ``package`` (it reads a path: a temporary copy, removed once loaded,
    since the loader unpacks the library and weights it needs)."""
    import logging

    from torch._inductor import aoti_load_package
    log = logging.getLogger("torch._inductor.package.package")    # warns before a damaged file's error:
    level = log.level                                             # the caller's one line says it all
    log.setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory(prefix="convzoo-aoti-") as d:
            path = os.path.join(d, "model.pt2")
            Path(path).write_bytes(package)
            return aoti_load_package(path)
    finally:
        log.setLevel(level)


def _compile_package(module: nn.Module, example: torch.Tensor, dynamic: bool) -> bytes:
    from torch._inductor import aoti_compile_and_package
    with torch.no_grad():
        prog = torch.export.export(module, (example,),
                                   dynamic_shapes=({0: torch.export.Dim.AUTO},) if dynamic else None)
        with tempfile.TemporaryDirectory(prefix="convzoo-aoti-") as d:
            path = aoti_compile_and_package(prog, package_path=os.path.join(d, "model.pt2"),
                                            inductor_configs={"freezing": True})
            return Path(path).read_bytes()


def package_error(runner: nn.Module, module: nn.Module, check: torch.Tensor) -> float:
    """How far ``runner`` is from ``module`` run eagerly (the oracle: PyTorch's own kernels, for PT2E
    the q/dq graph in float) on ``check``, as a fraction of the output scale."""
    from ._common import relative_error
    with torch.no_grad():
        return relative_error(runner(check), module(check))


def package_program(module: nn.Module, example: torch.Tensor, precision: str, *,
                    check: Optional[torch.Tensor] = None, batch: Optional[int] = None) -> PackagedInference:
    """``module`` compiled by AOTInductor with freezing (what :func:`compile_program` does in-process,
    here once, ahead of time) as a :class:`PackagedInference`: for the static batch ``batch``, or with
    ``batch=None`` with a dynamic batch axis.

    Why a static batch when the batch is known (deploy's, bench's): it is what ``torch.compile`` with
    ``dynamic=False`` specialised for, and the dynamic package can be slower (MobileNetV2 as created,
    batch 1: 46 against 104 img/s, same run; ConvNeXt-T: level).

    With ``check`` (real inputs), the package is compared with ``module`` run eagerly and must be within
    :data:`PACKAGE_RTOL` of its output scale; a dynamic one that is not is compiled again for the static
    batch 1, and a static one that is not raises ``RuntimeError`` (an int8 one only when it also differs
    from ``torch.compile`` of the graph: :func:`_same_as_compile`). Why: with a dynamic batch and
    freezing, torch 2.14's inductor lays out the int8 conv of a 1-channel input as NCHW where oneDNN
    writes it channels-last; torch.compile(dynamic=True) stops on its stride assertion, AOTInductor has
    none and reads the buffer in the wrong order (17-37 % of the output scale on small 1-channel nets;
    3-channel nets, ConvNeXt-T and MobileNetV2 are unaffected). A static batch compiles it correctly."""
    from .runner import batch_of_two
    if batch is None:
        runner = PackagedInference(_compile_package(module, batch_of_two(example), True), precision, model=module)
        if check is None or package_error(runner, module, check) <= PACKAGE_RTOL:
            return runner
        batch = 1
    static = example[:1].expand(batch, *example.shape[1:]).contiguous()
    runner = PackagedInference(_compile_package(module, static, False), precision, model=module, batch=batch)
    err = 0.0 if check is None else package_error(runner, module, check)
    if not err <= PACKAGE_RTOL:
        if precision != "int8":
            raise RuntimeError(f"AOTInductor computes this graph {err:.1e} of the output scale away from PyTorch "
                               f"(allowed {PACKAGE_RTOL})")
        _same_as_compile(runner, module, check, err)
    return runner


def _same_as_compile(runner: nn.Module, module: nn.Module, check: torch.Tensor, err: float) -> None:
    """An int8 package beyond :data:`PACKAGE_RTOL` of its q/dq graph run eagerly must compute what
    ``torch.compile`` of the same graph computes (the compile engine it stands in for), to
    :data:`SAME_AS_COMPILE`; ``RuntimeError`` otherwise.

    Why: oneDNN's int8 kernels requantize with their own rounding, and on a deep depthwise net each
    1-LSB difference travels through every later layer. A fine-tuned EfficientNet-Lite0 (64 px, PT2E
    int8): torch.compile of the graph is 8.9e-2 of the output scale from the eager q/dq ops (top-1 the
    same on 95 % of the test images), and its package the same 8.9e-2, 0.0 from torch.compile (2026-12-07).
    The eager bound then measures the kernels, not the packaging, and refused every Lite0 int8 package."""
    with torch.no_grad():
        engine = compile_program(module, "int8")
        off = package_error(runner, engine, check)
    if not off <= SAME_AS_COMPILE:
        raise RuntimeError(f"AOTInductor computes this int8 graph {err:.1e} of the output scale away from PyTorch's "
                           f"q/dq ops (allowed {PACKAGE_RTOL}) and {off:.1e} from torch.compile of it (allowed "
                           f"{SAME_AS_COMPILE})")


def load_package(file, precision: str, batch: Optional[int] = None) -> PackagedInference:
    """A saved :class:`PackagedInference` (``model.pt2``) for ``precision`` (``batch``: the static batch
    it was compiled for, None for a dynamic one); FileNotFoundError in one line when it is missing (a
    damaged file raises the loader's error: callers name the file)."""
    p = Path(file)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: the AOTInductor package is missing")
    return PackagedInference(p.read_bytes(), precision, batch=batch)


__all__ = ["CompiledInference", "PackagedInference", "compile_program", "package_program", "load_package",
           "package_error", "torch_compile", "PACKAGE", "PACKAGE_RTOL"]
