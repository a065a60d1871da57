"""The manifests convzoo writes beside what it makes, read and written in one place.

    run folder      config.json    model, model_kwargs, dataset, data_root, data_kwargs, preprocess, train
    deploy folder   deploy.json    the chosen engine's file, the candidates, data (a DataSpec)
    quantize folder quantize.json  backend, precision, int8 settings, data (a DataSpec)
    exported IR     convzoo.json   model, source, data (beside model.xml; an .onnx keeps it in its metadata)

A manifest that names a file never leads out of its folder (:func:`inside`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from ..io import write_json

RUN_CONFIG = "config.json"
DEPLOY_JSON = "deploy.json"
QUANTIZE_JSON = "quantize.json"
EXPORT_JSON = "convzoo.json"
REPORT_JSON = "report.json"

_RUN_KEYS = ("model", "dataset", "train")    # what makes a config.json a run's (a hub folder's has none)


def read_json(path, what: str = "JSON file") -> dict[str, Any]:
    """The JSON object in ``path``; one line naming the file when it is missing, damaged or no object."""
    p = Path(path)
    try:
        obj = json.loads(p.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{p}: no {what} there") from None
    except (ValueError, UnicodeDecodeError, OSError) as e:
        raise ValueError(f"{p}: not a readable {what} ({type(e).__name__}: damaged or truncated?)") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{p}: not a {what} (a JSON object was expected, got {type(obj).__name__})")
    return obj


def inside(folder, name: str, manifest: str = DEPLOY_JSON) -> Path:
    """``folder / name``, refused when ``name`` (read from ``folder``'s manifest) is absolute or
    leads out of the folder (``..``, a link pointing elsewhere)."""
    root = Path(folder).resolve()
    target = (root / str(name)).resolve()
    if Path(str(name)).is_absolute() or (target != root and root not in target.parents):
        raise ValueError(f"{folder}: {manifest} names {str(name)!r}, which leaves the folder (refused)")
    return target


def is_run_dir(path) -> bool:
    """Whether ``path`` is a run folder written by ``convzoo train`` or ``convzoo compress`` (its
    config.json names the run's model, dataset and train settings; a hub folder's names an architecture)."""
    p = Path(path) / RUN_CONFIG
    if not p.is_file():
        return False
    try:
        cfg = json.loads(p.read_text())
    except (ValueError, OSError, UnicodeDecodeError):
        return False
    return isinstance(cfg, dict) and set(_RUN_KEYS) <= set(cfg)


def read_run_config(run_dir) -> dict[str, Any]:
    """A run folder's config.json; one line when the folder is missing, not a run, or its config damaged."""
    folder = Path(run_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"run folder not found: {run_dir}")
    p = folder / RUN_CONFIG
    if not p.is_file():
        raise FileNotFoundError(f"{run_dir} is not a convzoo run folder (no {RUN_CONFIG})")
    try:
        cfg = json.loads(p.read_text())
        cfg["model"], cfg["dataset"], cfg["train"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ValueError(f"corrupt run config {p} (not a convzoo run's config.json?)") from None
    return cfg


def write_run_config(out, run_info: dict[str, Any], train: dict[str, Any]) -> None:
    """``out/config.json``: what the run is (``run_info``: model, options, data, preprocessing) and
    how it trains (``train``: the TrainConfig as a dict), written atomically."""
    write_json(Path(out) / RUN_CONFIG, {**run_info, "train": train})


def read_report(folder) -> Optional[dict[str, Any]]:
    """``folder/report.json`` as written by its producer, or None when there is none."""
    p = Path(folder) / REPORT_JSON
    return read_json(p, "report") if p.is_file() else None


__all__ = ["RUN_CONFIG", "DEPLOY_JSON", "QUANTIZE_JSON", "EXPORT_JSON", "REPORT_JSON", "read_json", "inside",
           "is_run_dir", "read_run_config", "write_run_config", "read_report"]
