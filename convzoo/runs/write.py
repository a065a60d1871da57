"""Writing a new folder: complete, or not there at all; never into a used one.

    check_new_folder(out)                 refused before any work when ``out`` holds files
    with new_folder(out) as tmp: ...      files go into a hidden sibling, renamed to ``out`` at the end
                                          (an error or a kill leaves no half-written ``out``)
    write_run(out, model, ...)            a run folder (config.json, model.safetensors, report.json) in one step
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from torch import nn

from .manifest import REPORT_JSON, write_run_config

PathLike = Union[str, os.PathLike]


def check_new_folder(path: PathLike, flag: str = "--out") -> Path:
    """``path`` as a Path when it is free (missing, or an empty folder); one line naming ``flag`` otherwise."""
    p = Path(path)
    if not str(path).strip():
        raise ValueError(f"{flag} expects a folder, got ''")
    if p.exists() and not p.is_dir():
        raise ValueError(f"{flag} {p} is a file; give a new folder")
    if p.is_dir() and any(p.iterdir()):
        raise ValueError(f"{flag} {p} already exists and holds files; convzoo writes only into a new or empty "
                         f"folder (choose another)")
    return p


@contextlib.contextmanager
def new_folder(path: PathLike, flag: str = "--out") -> Iterator[Path]:
    """A temporary sibling of ``path`` to fill; renamed to ``path`` when the block ends without error,
    removed when it raises (nothing half-written is left under ``path``)."""
    out = check_new_folder(path, flag)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        check_new_folder(out, flag)          # someone else may have written there meanwhile
        if out.is_dir():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_run(out: PathLike, model: nn.Module, run_info: dict[str, Any], train: dict[str, Any],
              report: dict[str, Any], metadata: Optional[dict[str, str]] = None) -> Path:
    """A run folder in one step: config.json (``run_info`` + ``train``), model.safetensors (with
    ``metadata``) and report.json; ``convzoo eval``/``deploy``/``quantize`` read it as any run."""
    from convzoo.io import write_json
    from convzoo.weights import save_weights
    with new_folder(out) as tmp:
        write_run_config(tmp, run_info, train)
        save_weights(model, tmp / "model.safetensors", metadata)
        write_json(tmp / REPORT_JSON, report)
    return Path(out)


__all__ = ["check_new_folder", "new_folder", "write_run"]
