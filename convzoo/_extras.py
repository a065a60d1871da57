"""Optional dependencies: import one, or say which extra of ``pip install convzoo[...]`` brings it.

The core (layers, blocks, models, analysis, weights, the trainer on built-in image data) needs only
torch, torchvision, numpy and safetensors; everything else is imported where it is used, through
:func:`require`, so a missing package is one clear line instead of a bare ``ModuleNotFoundError``.
"""
from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def require(module: str, extra: str, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``pip install 'convzoo[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        what = f" for {purpose}" if purpose else ""
        raise MissingExtraError(
            f"{module!r} is needed{what} but is not installed: pip install 'convzoo[{extra}]' "
            f"(or pip install {module.split('.')[0]})") from e


__all__ = ["require", "MissingExtraError"]
