"""The twin of a registered model, as its registered cfg names it (``cfg["twins"]``, written once in the
family's module): the tests' twin tables look names up here instead of restating them."""
from __future__ import annotations

import inspect
from typing import Optional

from torch import nn

from convzoo.registry import get_pretrained_cfg

TWIN = None   # in a case table: the registered twin of the row's model in the row's library
_LIBRARIES = {"tv": "torchvision"}


def twin(name: str, library: str, given: Optional[str] = TWIN) -> str:
    """``given``, or the name of ``name``'s twin in ``library`` ("timm", "torchvision" or "tv")."""
    if given is not None:
        return given
    twins = get_pretrained_cfg(name).get("twins", {})
    library = _LIBRARIES.get(library, library)
    if library not in twins:
        raise KeyError(f"{name} names no {library} twin in its registered cfg (twins: {twins})")
    return twins[library]


def build_twin(library: str, name: str, **kwargs) -> nn.Module:
    """timm's or torchvision's model ``name``, without weights (torchvision's backbone weights too)."""
    if library == "timm":
        import timm
        return timm.create_model(name, **kwargs)
    import torchvision
    if "weights_backbone" in inspect.signature(torchvision.models.get_model_builder(name)).parameters:
        kwargs.setdefault("weights_backbone", None)
    return torchvision.models.get_model(name, weights=None, **kwargs)
