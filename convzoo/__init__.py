"""convzoo: every variant of the convolutional layer and the networks built from them.

    >>> import convzoo
    >>> model = convzoo.create_model("efficientnet_b0", num_classes=10)
    >>> convzoo.list_models("efficientnet_*")
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Every public entry point is imported on first use, so `import convzoo` (and `convzoo --help`,
# `--version`) does not load torch.
_LAZY = {
    "create_model": "convzoo.registry",
    "list_models": "convzoo.registry",
    "register_model": "convzoo.registry",
    "is_model": "convzoo.registry",
    "load_weights": "convzoo.weights",
    "save_weights": "convzoo.weights",
    "save_pretrained": "convzoo.hub",
    "profile": "convzoo.analysis",
    "compound_scaling": "convzoo.models.efficientnet",
    "create_segmenter": "convzoo.models.segmentation",
    "compress": "convzoo.compress",
    "reparameterize_model": "convzoo.blocks.reparam",
    "evaluate": "convzoo.runs",          # any run, artifact or weights file on its recorded test split
    "open_source": "convzoo.runs",
    "predict": "convzoo.runs",           # classify (or segment) image files with any source
    "model_cost": "convzoo.catalog",     # params and MACs of a registered model, built on meta (convzoo list)
}

__all__ = ["__version__", *_LAZY]


_SUBPACKAGES = {"data", "hub", "weights", "analysis", "export", "train", "layers", "blocks", "models", "runs",
                "catalog"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBPACKAGES:   # `import convzoo; convzoo.data.create_transform(...)` without a second import
        return importlib.import_module(f"convzoo.{name}")
    raise AttributeError(f"module 'convzoo' has no attribute {name!r}")
