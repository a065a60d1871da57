"""The engine registry: one module per engine, each declaring an :class:`Engine`.

A new engine is one file here holding ``ENGINE = Engine(name, summary, {device: precisions}, build,
requires=...)`` plus its line in ``_MODULES``. Everything that picks an engine × precision
(``optimize``, ``make_runner``, ``bench --engine all``, ``deploy``) looks it up here.
"""
from __future__ import annotations

from typing import Optional

from ._base import Engine
from . import eager, executorch, inductor, litert, onednn, onnxruntime, openvino

_MODULES = (eager, inductor, onednn, onnxruntime, openvino, executorch, litert)
REGISTRY: dict[str, Engine] = {m.ENGINE.name: m.ENGINE for m in _MODULES}


def get_engine(name: str) -> Engine:
    """The engine called ``name``; ``ValueError`` naming the known ones otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"engine must be one of {', '.join(REGISTRY)}, got {name!r}")
    return REGISTRY[name]


def list_engines(device: Optional[str] = None) -> list[str]:
    """Engine names, in registry order; only those that run on ``device`` ("cpu", "cuda") if given."""
    return [n for n, e in REGISTRY.items() if device is None or device in e.precisions]


def candidates(device: str = "cpu", precisions: Optional[tuple] = None) -> list[tuple[str, str]]:
    """Every (engine, precision) the registry declares for ``device``, in registry order."""
    return [(n, p) for n, e in REGISTRY.items() for p in e.precisions.get(device, ())
            if precisions is None or p in precisions]


__all__ = ["Engine", "REGISTRY", "get_engine", "list_engines", "candidates"]
