"""Deployed artifacts on disk: ``deploy.json`` beside one engine's file, and the loaders that turn a
deploy folder, an ``.onnx`` file or an OpenVINO IR folder back into a :class:`~convzoo.export.Runner`.

Layout of a deploy folder: ``deploy.json`` (the report: ``chosen`` names the engine, precision and
file) + one of ``model.xml``/``model.bin`` (OpenVINO), ``model.onnx`` (ONNX Runtime), ``model.ts``
(TorchScript for the oneDNN Graph fuser), ``model.pt2`` (a ``torch.export`` program, eager).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import torch

from .compiled import compile_program
from .onednn_graph import load_onednn_graph
from .onnx import OrtRunner
from .openvino import IR_NAME, OpenVINOModule, load_openvino
from .runner import ModuleRunner, Runner

DEPLOY_JSON = "deploy.json"


def is_deploy_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / DEPLOY_JSON).is_file()


def load_deployed(path: str | os.PathLike, *, threads: Optional[int] = None) -> Runner:
    """The runner ``convzoo deploy`` chose, from its folder. The result carries ``info`` (the
    ``deploy.json`` report) and ``default_cfg["input_size"]``. ``FileNotFoundError`` / ``ValueError``
    in one line for a folder that is not a deploy folder or whose report is damaged."""
    p = Path(path)
    meta = p / DEPLOY_JSON
    if not meta.is_file():
        raise FileNotFoundError(f"{path} is not a deploy folder: no {DEPLOY_JSON} (write one with convzoo deploy)")
    try:
        info = json.loads(meta.read_text())
        chosen = info["chosen"]
        fmt, file, precision = chosen["format"], chosen["file"], chosen["precision"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{meta} is not a deploy report (missing or bad field: {e})") from None
    if not (p / file).is_file():
        raise FileNotFoundError(f"{path}: deploy.json names {file}, which is missing")
    if fmt == "openvino":
        runner: Runner = OpenVINOModule(load_openvino(p / file), threads=threads, precision=chosen.get("hint"))
    elif fmt == "onnx":
        runner = OrtRunner((p / file).read_bytes(), threads=threads or 0)
    elif fmt == "torchscript":
        runner = load_onednn_graph(p / file, precision)
    elif fmt == "torch.export+inductor":
        runner = compile_program(torch.export.load(str(p / file)).module(), precision)
    elif fmt == "torch.export":
        module = torch.export.load(str(p / file)).module()
        runner = ModuleRunner(module, precision, "eager")
    else:
        raise ValueError(f"{meta}: unknown artifact format {fmt!r}")
    runner.info = info
    runner.default_cfg = {"input_size": tuple(info["input_size"])}
    return runner


def load_artifact(path: str | os.PathLike, *, threads: Optional[int] = None) -> Runner:
    """A deploy folder, a ``convzoo quantize`` folder, an OpenVINO IR (folder or ``.xml``) or an
    ``.onnx`` file as a runner labelled with its real engine and precision (an IR with quantize
    nodes is int8; a float IR runs at OpenVINO's default precision here). ``default_cfg`` holds the
    input size when the file fixes one."""
    p = Path(path)
    if p.is_dir() and is_deploy_dir(p):
        return load_deployed(p, threads=threads)
    if p.suffix == ".onnx":
        if not p.is_file():
            raise FileNotFoundError(f"no ONNX file at {path}")
        runner: Runner = OrtRunner(p.read_bytes(), threads=threads or 0)
        dims = runner.session.get_inputs()[0].shape[1:]
        if all(isinstance(d, int) for d in dims):
            runner.default_cfg = {"input_size": tuple(dims)}
        return runner
    if (p.is_dir() and (p / IR_NAME).is_file()) or p.suffix == ".xml":
        if (p / "quantize.json").is_file():
            from .quantize import load_quantized
            q = load_quantized(p, threads=threads)
            if q.info.get("input_size"):
                q.default_cfg = {"input_size": tuple(q.info["input_size"])}
            return q
        ov_model = load_openvino(p)
        runner = OpenVINOModule(ov_model, threads=threads)
        shape = ov_model.inputs[0].get_partial_shape()
        if shape.rank.is_static and all(d.is_static for d in list(shape)[1:]):
            runner.default_cfg = {"input_size": tuple(int(d.get_length()) for d in list(shape)[1:])}
        return runner
    raise FileNotFoundError(f"{path} is not a deploy folder, an OpenVINO IR folder or an .onnx file")


__all__ = ["load_deployed", "load_artifact", "is_deploy_dir", "DEPLOY_JSON"]
