"""Artifacts on disk turned back into a :class:`~convzoo.export.Runner`, one loader per kind, each
failing in one line that names the file (the engine's own words after ``--debug``).

Which loader a path needs is decided by :func:`convzoo.runs.open_source`; here each kind is read:
a deploy folder (``deploy.json`` naming the chosen engine's file inside the folder: ``model.xml`` +
``model.bin`` for OpenVINO, ``model.onnx``, ``model.ts`` for the oneDNN Graph fuser, ``model.pt2``
for a ``torch.export`` program, ``model.pte`` for ExecuTorch, ``model.tflite`` for LiteRT), an
``.onnx`` file, an OpenVINO IR (folder or ``.xml``), an ExecuTorch ``.pte`` program and a LiteRT
``.tflite`` model.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import torch

from ..runs.manifest import DEPLOY_JSON, inside, read_json
from ._common import ArtifactError, artifact_error
from .compiled import compile_program
from .engines.litert import ENGINE as LITERT
from .onednn_graph import load_onednn_graph
from .onnx import OrtRunner
from .openvino import OpenVINOModule, load_openvino
from .runner import ModuleRunner, Runner


def _quiet(name: str):
    """Silence logger ``name`` below ERROR; returns the function that restores it."""
    import logging
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.CRITICAL)
    return lambda: log.setLevel(level)


def load_onnx(path: str | os.PathLike, *, threads: Optional[int] = None) -> OrtRunner:
    """An ``.onnx`` file as an ONNX Runtime runner; ``default_cfg["input_size"]`` when the file fixes it."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no ONNX file at {path}")
    try:
        runner = OrtRunner(p.read_bytes(), threads=threads or 0)
    except Exception as e:                 # onnxruntime's InvalidProtobuf / Fail / InvalidGraph
        raise artifact_error(p, "ONNX file", e) from None
    dims = runner.session.get_inputs()[0].shape[1:]
    if all(isinstance(d, int) for d in dims):
        runner.default_cfg = {"input_size": tuple(dims)}
    return runner


def load_ir(path: str | os.PathLike, *, threads: Optional[int] = None, precision: Optional[str] = None) -> Runner:
    """An OpenVINO IR as a runner labelled with its real precision (an IR with quantize nodes is int8;
    a float one runs at ``precision``, default OpenVINO's here)."""
    ov_model = load_openvino(path)
    runner = OpenVINOModule(ov_model, threads=threads, precision=precision)
    shape = ov_model.inputs[0].get_partial_shape()
    if shape.rank.is_static and all(d.is_static for d in list(shape)[1:]):
        runner.default_cfg = {"input_size": tuple(int(d.get_length()) for d in list(shape)[1:])}
    return runner


def load_pte(path: str | os.PathLike, *, precision: Optional[str] = None) -> Runner:
    """A ``.pte`` file as an ExecuTorch runner labelled with the precision it records (``precision``
    overrides); ``default_cfg["input_size"]`` is the (C, *S) the program fixes. One line for a missing,
    truncated or foreign file, or a missing runtime (the ``edge`` extra)."""
    from .executorch import ExecuTorchRunner, runtime
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no .pte file at {path}")
    runtime()                              # a missing runtime: its own line, not "not a readable file"
    try:
        return ExecuTorchRunner(p.read_bytes(), precision)
    except Exception as e:                 # the runtime's "Failed to load program" / InvalidProgram
        raise artifact_error(p, "ExecuTorch program", e) from None


def load_tflite(path: str | os.PathLike, *, threads: Optional[int] = None, precision: Optional[str] = None) -> Runner:
    """A ``.tflite`` file as a LiteRT runner on ``threads`` threads (default PyTorch's), labelled with the
    precision it records (``precision`` overrides); ``default_cfg["input_size"]`` is the (C, *S) the file
    fixes. One line for a missing, truncated or foreign file, or a missing interpreter (the ``edge``
    extra)."""
    from .engines.litert import LiteRTRunner
    from .litert import interpreter_module
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no .tflite file at {path}")
    interpreter_module()                   # a missing interpreter: its own line
    try:
        return LiteRTRunner(p.read_bytes(), precision, threads=threads)
    except Exception as e:                 # the interpreter's "Could not open model" / bad flatbuffer
        raise artifact_error(p, "LiteRT model", e) from None


# the formats a deploy folder's chosen file can have, and how each becomes a runner: files read by an
# engine's own runtime (their loaders speak in one line) ...
_FILES = {
    "openvino": lambda file, chosen, threads: load_ir(file, threads=threads, precision=chosen.get("hint")),
    "onnx": lambda file, chosen, threads: load_onnx(file, threads=threads),
    "executorch": lambda file, chosen, threads: load_pte(file, precision=chosen.get("precision")),
    LITERT.name: lambda file, chosen, threads: load_tflite(file, threads=threads, precision=chosen.get("precision")),
}
# ... and PyTorch programs (a damaged one raises zipfile's or pickle's errors, worded here)
_PROGRAMS = {
    "torchscript": lambda file, precision: load_onednn_graph(file, precision),
    "torch.export+inductor": lambda file, precision: compile_program(torch.export.load(str(file)).module(), precision),
    "torch.export": lambda file, precision: ModuleRunner(torch.export.load(str(file)).module(), precision, "eager"),
}


def load_deployed(path: str | os.PathLike, *, threads: Optional[int] = None) -> Runner:
    """The runner ``convzoo deploy`` chose, from its folder. The result carries ``info`` (the
    ``deploy.json`` report) and ``default_cfg["input_size"]``. One line for a folder that is not a
    deploy folder, a damaged report, a file missing or outside the folder, or a damaged file."""
    p = Path(path)
    meta = p / DEPLOY_JSON
    if not meta.is_file():
        raise FileNotFoundError(f"{path} is not a deploy folder: no {DEPLOY_JSON} (write one with convzoo deploy)")
    info = read_json(meta, "deploy report")
    try:
        chosen = info["chosen"]
        fmt, name, precision = chosen["format"], chosen["file"], chosen["precision"]
        size = tuple(int(s) for s in info["input_size"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{meta} is not a deploy report (missing or bad field: {e})") from None
    file = inside(p, name)
    if not file.is_file():
        raise FileNotFoundError(f"{path}: deploy.json names {name}, which is missing")
    runner: Runner
    if fmt in _FILES:
        runner = _FILES[fmt](file, chosen, threads)
    elif fmt in _PROGRAMS:
        quiet = _quiet("torch.export")   # it logs a damaged file's error before raising it
        try:
            runner = _PROGRAMS[fmt](file, precision)
        except Exception as e:     # zipfile's BadZipFile, pickle's and TorchScript's errors of a damaged file
            raise artifact_error(file, f"{fmt} program", e) from None
        finally:
            quiet()
    else:
        raise ValueError(f"{meta}: unknown artifact format {fmt!r}")
    runner.info = info
    runner.default_cfg = {"input_size": size}
    return runner


__all__ = ["load_deployed", "load_onnx", "load_ir", "load_pte", "load_tflite", "ArtifactError", "DEPLOY_JSON"]
