"""Public names of a package loaded on first use, so that importing the package (and building the
CLI's parser, ``--help``, ``--version``) loads no torch.

    __getattr__, __dir__ = lazy_exports(__name__, {"fit": ".engine", "TrainConfig": ".config"})
"""
from __future__ import annotations

import importlib
import sys
from typing import Callable


def lazy_exports(package: str, table: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package``: ``name`` is read from the module
    ``table[name]`` (relative to ``package``) the first time it is asked for, then kept."""
    def __getattr__(name: str) -> object:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(table[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list:
        return sorted(set(vars(sys.modules[package])) | set(table))
    return __getattr__, __dir__
