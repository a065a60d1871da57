"""convzoo: every variant of the convolutional layer and the networks built from them.

    >>> import convzoo
    >>> model = convzoo.create_model("efficientnet_b0", num_classes=10)
    >>> convzoo.list_models("efficientnet_*")
"""
from __future__ import annotations

import importlib

from .registry import create_model, is_model, list_models, register_model

__version__ = "0.1.0"

# Heavier public entry points are imported on first use, so `import convzoo` stays fast.
_LAZY = {
    "load_weights": "convzoo.weights",
    "save_weights": "convzoo.weights",
    "profile": "convzoo.analysis",
    "compound_scaling": "convzoo.models.efficientnet",
    "reparameterize_model": "convzoo.blocks.reparam",
}

__all__ = ["create_model", "list_models", "register_model", "is_model", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'convzoo' has no attribute {name!r}")
