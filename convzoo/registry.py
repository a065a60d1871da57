"""Model registry: ``register_model``, ``create_model`` and ``list_models`` (torchvision/timm style).

A builder is a function ``name(**kwargs) -> nn.Module`` decorated with ``@register_model``; its
function name is the model name. Modules under :mod:`convzoo.models` are imported on first use.
"""
from __future__ import annotations

import fnmatch
import importlib
import pkgutil
from typing import Callable, Optional

from torch import nn

from .suggest import did_you_mean

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_IMPORTED = False


class UnknownModelError(ValueError, KeyError):
    """An unknown model name; the message suggests the closest registered names."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    name = fn.__name__
    if name in _MODELS and _MODELS[name] is not fn:
        raise ValueError(f"model {name!r} is registered twice")
    _MODELS[name] = fn
    return fn


def _import_models() -> None:
    global _IMPORTED
    if _IMPORTED:
        return
    _IMPORTED = True
    import convzoo.models as pkg
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}")


def list_models(pattern: str = "*", modality: Optional[str] = None) -> list[str]:
    """Registered model names matching a glob ``pattern``, sorted.

    ``modality`` ("image", "audio", "video") filters by the builder's ``modality`` attribute.
    """
    _import_models()
    names = [n for n in _MODELS if fnmatch.fnmatch(n, pattern)]
    if modality is not None:
        names = [n for n in names if getattr(_MODELS[n], "modality", "image") == modality]
    return sorted(names)


def model_entrypoint(name: str) -> Callable[..., nn.Module]:
    _import_models()
    base = name.split(".", 1)[0]        # timm-style "arch.tag": the tag names weights, not the arch
    if base not in _MODELS:
        raise UnknownModelError(f"unknown model {name!r}{did_you_mean(base, _MODELS)} "
                                f"(convzoo.list_models() lists all {len(_MODELS)})")
    return _MODELS[base]


def is_model(name: str) -> bool:
    _import_models()
    return name.split(".", 1)[0] in _MODELS


def create_model(name: str, *, num_classes: Optional[int] = None, in_chans: Optional[int] = None,
                 drop_rate: Optional[float] = None, drop_path_rate: Optional[float] = None,
                 features_only: bool = False, out_indices=None, **kwargs) -> nn.Module:
    """Build a registered model.

    ``num_classes`` and ``in_chans`` default to the model's own (1000 classes and 3 channels for the
    ImageNet families, 1 channel for waveform nets, ...). ``drop_rate`` is the dropout before the
    classifier, ``drop_path_rate`` the final stochastic-depth rate. ``features_only=True`` returns a
    :class:`~convzoo.models.base.FeatureExtractor` giving the multi-scale feature maps.
    """
    fn = model_entrypoint(name)
    for key, value in (("num_classes", num_classes), ("in_chans", in_chans),
                       ("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)):
        if value is not None:
            kwargs[key] = value
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 0):
        raise ValueError(f"num_classes must be a non-negative int, got {num_classes!r}")
    if in_chans is not None and (not isinstance(in_chans, int) or in_chans < 1):
        raise ValueError(f"in_chans must be a positive int, got {in_chans!r}")
    model = fn(**kwargs)
    if features_only:
        from .models.base import FeatureExtractor
        model = FeatureExtractor(model, out_indices)
    return model
