"""Artifacts on disk turned back into a :class:`~convzoo.export.Runner`, one loader per kind, each
failing in one line that names the file (the engine's own words after ``--debug``).

Which loader a path needs is decided by :func:`convzoo.runs.open_source`; here each kind is read:
a deploy folder (``deploy.json`` naming the chosen engine's file inside the folder: ``model.xml`` +
``model.bin`` for OpenVINO, ``model.onnx``, ``model.ts`` for the oneDNN Graph fuser, ``model.pt2``
for a ``torch.export`` program, ``model.pte`` for ExecuTorch, ``model.tflite`` for LiteRT), an
``.onnx`` file, an OpenVINO IR (folder or ``.xml``), an ExecuTorch ``.pte`` program and a LiteRT
``.tflite`` model. A deploy folder's format is read by the engine
that writes it (its record's ``format`` and ``load``: :func:`convzoo.export.engines.by_format`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional


from ..runs.manifest import DEPLOY_JSON, inside, read_json
from ._common import ArtifactError, artifact_error
from .engines import by_format
from .executorch import load_pte
from .litert import load_tflite
from .onnx import load_onnx
from .openvino import load_ir
from .runner import Runner


def _quiet(name: str):
    """Silence logger ``name`` below ERROR; returns the function that restores it."""
    import logging
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.CRITICAL)
    return lambda: log.setLevel(level)


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
        fmt, name, _ = chosen["format"], chosen["file"], chosen["precision"]
        size = tuple(int(s) for s in info["input_size"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{meta} is not a deploy report (missing or bad field: {e})") from None
    file = inside(p, name)
    if not file.is_file():
        raise FileNotFoundError(f"{path}: deploy.json names {name}, which is missing")
    engine = by_format(fmt)                # the engine whose runners write this format reads it back
    if engine is None:
        raise ValueError(f"{meta}: unknown artifact format {fmt!r}")
    runner: Runner
    if engine.requires is not None:        # a file read by an engine's own runtime: its loader speaks in one line
        runner = engine.load(file, chosen, threads)
    else:                                  # a PyTorch program: a damaged one raises zipfile's or pickle's errors
        quiet = _quiet("torch.export")     # it logs a damaged file's error before raising it
        try:
            runner = engine.load(file, chosen, threads)
        except Exception as e:     # zipfile's BadZipFile, pickle's and TorchScript's errors of a damaged file
            raise artifact_error(file, f"{fmt} program", e) from None
        finally:
            quiet()
    runner.info = info
    runner.default_cfg = {"input_size": size}
    return runner


__all__ = ["load_deployed", "load_onnx", "load_ir", "load_pte", "load_tflite", "ArtifactError", "DEPLOY_JSON"]
