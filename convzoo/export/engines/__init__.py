"""The engine registry: one module per engine, each declaring an :class:`Engine`.

A new engine is one file here holding ``ENGINE = Engine(name, summary, {device: precisions}, build,
requires=..., ...)`` plus its line in ``_MODULES`` (or, from outside, one :func:`register` call).
Everything that picks an engine × precision (``optimize``, ``make_runner``, ``bench --engine all``,
``deploy``, reloading an artifact) looks it up here, and nothing outside this package spells an
engine's name (tests/test_engine_record.py): a caller asks the record (``threads``, ``host``,
``autocast``, ``format`` ...) or a role (:func:`by_role`), never ``if name == ...``.
"""
from __future__ import annotations

from typing import Optional

from ._base import Engine
from . import eager, executorch, inductor, litert, onednn, onnxruntime, openvino

REGISTRY: dict[str, Engine] = {}


def register(module) -> Engine:
    """Add the engine a module declares (its ``ENGINE``; an :class:`Engine` itself also does) to the
    registry, and label its runner class with its name and artifact format. Returns the engine."""
    engine = getattr(module, "ENGINE", module)
    if not isinstance(engine, Engine):
        raise TypeError(f"register takes a module with ENGINE = Engine(...) or an Engine, got {module!r}")
    REGISTRY[engine.name] = engine
    if engine.runner is not None:
        engine.runner.engine = engine.name
        engine.runner.artifact_format = engine.format or ""
    return engine


_MODULES = (eager, inductor, onednn, onnxruntime, openvino, executorch, litert)
for _m in _MODULES:
    register(_m)


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


def by_role(role: str) -> Engine:
    """The first engine, in registry order, that declares ``role`` (see :class:`Engine`'s ``roles``)."""
    for e in REGISTRY.values():
        if role in e.roles:
            return e
    raise ValueError(f"no registered engine has the role {role!r}")


def by_format(fmt: str) -> Optional[Engine]:
    """The engine whose runners write (and whose ``load`` reads) artifact format ``fmt``; None if none."""
    return next((e for e in REGISTRY.values() if e.format == fmt and e.load is not None), None)


def is_reference(name: str) -> bool:
    """Whether ``name`` is the reference engine (the float32 PyTorch form; :data:`DEFAULT`)."""
    return name in REGISTRY and "reference" in REGISTRY[name].roles


# the reference engine's name: bench's default, the label of a plain PyTorch model's results
DEFAULT: str = by_role("reference").name

__all__ = ["Engine", "REGISTRY", "DEFAULT", "register", "get_engine", "list_engines", "candidates", "by_role",
           "by_format", "is_reference"]
