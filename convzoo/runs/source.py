"""What a name or a path is: the one place that decides a source's kind.

    name / path --open_source--> Source(kind, name, path, manifest)

    kind      what it is                                         its manifest
    model     a registered model name                            -
    hub       a model folder (``local-dir:DIR``, ``hf-hub:ORG/NAME``, a folder with timm's config.json)
    run       a run folder of ``convzoo train`` / ``compress``   config.json
    deploy    a folder of ``convzoo deploy``                     deploy.json
    quantize  an int8 folder of ``convzoo quantize``             quantize.json
    ir        an OpenVINO IR (folder or ``.xml``)                convzoo.json beside it, when exported from a run
    onnx      an ``.onnx`` file                                  its ``convzoo`` metadata, when exported from a run
    pte       an ExecuTorch ``.pte`` program                     its ``convzoo_record`` method (model, source,
                                                                 data, precision), when written by convzoo
    tflite    a LiteRT ``.tflite`` model                          its ``convzoo_record`` metadata (the same
                                                                 facts), when written by convzoo
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from .manifest import DEPLOY_JSON, EXPORT_JSON, QUANTIZE_JSON, RUN_CONFIG, is_run_dir, read_json, read_run_config

ARTIFACTS = ("deploy", "quantize", "ir", "onnx", "pte", "tflite")
_LABELS = {"model": "model name", "hub": "model folder", "run": "run folder", "deploy": "deploy folder",
           "quantize": "quantize folder", "ir": "OpenVINO IR", "onnx": "ONNX file",
           "pte": "ExecuTorch program", "tflite": "LiteRT model"}


@dataclass
class Source:
    """A model name, a model folder, a run folder or an artifact, with its manifest (``{}`` if none)."""
    kind: str
    name: str
    path: Optional[Path] = None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def is_artifact(self) -> bool:
        """A file an engine runs as it is (its weights, engine and precision are its own)."""
        return self.kind in ARTIFACTS

    @property
    def model_name(self) -> Optional[str]:
        """The registered model it holds (None for a file exported from a bare graph)."""
        if self.kind == "model":
            return self.name
        if self.kind == "hub":
            return self.manifest.get("architecture")
        return self.manifest.get("model")

    @property
    def data(self):
        """The :class:`~convzoo.runs.data.DataSpec` its producer recorded, or None."""
        from .data import DataSpec
        if self.kind == "run":
            return DataSpec.from_run_config(self.manifest)
        if self.is_artifact:
            return DataSpec.from_dict(self.manifest.get("data"),
                                      legacy=self.manifest if self.kind in ("deploy", "quantize") else None)
        return None

    def describe(self) -> str:
        return f"{self.name} ({_LABELS[self.kind]})"


def _onnx_record(path: Path) -> dict[str, Any]:
    """The ``convzoo`` metadata of an ``.onnx`` file ({} when it has none or cannot be read here: its
    loader says why in one line)."""
    try:
        import onnx
        proto = onnx.load(str(path), load_external_data=False)
        meta = {p.key: p.value for p in proto.metadata_props}
        return json.loads(meta["convzoo"]) if "convzoo" in meta else {}
    except Exception:              # a damaged file or no onnx package: load_onnx reports it
        return {}


def _pte_record(path: Path) -> dict[str, Any]:
    """The record convzoo stored inside a ``.pte`` ({} when none, or no runtime here: its loader says why)."""
    try:
        from convzoo.export.executorch import read_record
    except ImportError:
        return {}
    return read_record(path)


def _tflite_record(path: Path) -> dict[str, Any]:
    """The record convzoo stored inside a ``.tflite`` ({} when none, or no interpreter here: its loader
    says why)."""
    try:
        from convzoo.export.litert import read_record
    except ImportError:
        return {}
    return read_record(path)


def _export_record(folder: Path) -> dict[str, Any]:
    p = folder / EXPORT_JSON
    return read_json(p, "export record") if p.is_file() else {}


def _folder(p: Path, name: str) -> Source:
    if (p / RUN_CONFIG).is_file() and is_run_dir(p):
        return Source("run", name, p, read_run_config(p))
    if (p / DEPLOY_JSON).is_file():
        return Source("deploy", name, p, read_json(p / DEPLOY_JSON, "deploy report"))
    if (p / QUANTIZE_JSON).is_file():
        return Source("quantize", name, p, read_json(p / QUANTIZE_JSON, "quantize record"))
    if (p / "model.xml").is_file():
        return Source("ir", name, p, _export_record(p))
    if (p / RUN_CONFIG).is_file():
        cfg = read_json(p / RUN_CONFIG, "config.json")
        if "architecture" in cfg:
            return Source("hub", f"local-dir:{p}", p, cfg)
        raise ValueError(f"{name}: its config.json is neither a run's (model, dataset, train) nor a model "
                         f"folder's (architecture)")
    raise ValueError(f"{name} is not a run folder, a deploy or quantize folder, an OpenVINO IR or a model "
                     f"folder (it holds no config.json, deploy.json, quantize.json or model.xml)")


def open_source(source: Union[str, os.PathLike, Source]) -> Source:
    """What ``source`` is (see the module docstring); one line naming what was expected otherwise."""
    if isinstance(source, Source):
        return source
    name = os.fspath(source)
    if not str(name).strip():
        raise ValueError("expected a model name, a run folder or an artifact, got ''")
    if name.startswith(("local-dir:", "hf-hub:")):
        from convzoo.hub import hf_hub_folder
        kind, _, where = name.partition(":")
        folder = Path(where) if kind == "local-dir" else hf_hub_folder(where)
        cfg = read_json(Path(folder) / RUN_CONFIG, "model folder's config.json")
        return Source("hub", name, Path(folder), cfg)
    p = Path(name)
    if p.is_dir():
        return _folder(p, name)
    if p.is_file():
        if p.suffix == ".onnx":
            return Source("onnx", name, p, _onnx_record(p))
        if p.suffix == ".xml":
            return Source("ir", name, p, _export_record(p.parent))
        if p.suffix == ".pte":
            return Source("pte", name, p, _pte_record(p))
        if p.suffix == ".tflite":
            return Source("tflite", name, p, _tflite_record(p))
        raise ValueError(f"{name} is a file convzoo does not run (expected an .onnx file, an OpenVINO .xml, an "
                         f"ExecuTorch .pte, a LiteRT .tflite, or a folder; a weights file goes with --weights)")
    if p.suffix in (".onnx", ".xml", ".pte", ".tflite", ".safetensors", ".pth", ".pt") or os.sep in name:
        raise FileNotFoundError(f"{name} does not exist (expected a registered model name, a run folder, or an "
                                f"artifact: a deploy or quantize folder, an OpenVINO IR, an .onnx, .pte or .tflite "
                                f"file)")
    from convzoo.registry import model_entrypoint
    model_entrypoint(name.split(".", 1)[0])      # an unknown name: one line with the closest ones
    return Source("model", name)


__all__ = ["Source", "open_source", "ARTIFACTS"]
