"""The one rule for builder keyword arguments, and torchvision's builder arguments.

Every registered builder goes through :func:`build`: an argument the family does not take is a
ValueError naming the argument and the family (never a silent drop, never a bare TypeError from deep
inside); ``drop_path_rate`` is accepted as 0 by families without stochastic depth and refused
otherwise. :func:`torchvision_args` maps torchvision's builder arguments (``weights``, ``progress``,
``stochastic_depth_prob``, ``dropout``) to ours on the torchvision-named builders.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from ..registry import registered_cfg

_NOT_ARGS = ("self", "cls")


def accepted_args(target: Callable) -> set[str]:
    """Keyword names ``target`` takes: its own signature, written out (no ``**kwargs`` forwarding,
    so the signature is the one list of what a family takes)."""
    out: set[str] = set()
    for p in inspect.signature(target).parameters.values():
        if p.kind == p.VAR_KEYWORD:
            raise TypeError(f"{getattr(target, '__qualname__', target)} takes **{p.name}: a builder "
                            f"target names every keyword it takes")
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in _NOT_ARGS:
            out.add(p.name)
    return out


def build(name: str, family: str, target: Callable, kwargs: dict[str, Any], **fixed: Any):
    """``target(**fixed, **kwargs)`` after checking ``kwargs`` against what the family takes: the
    keywords of ``target``'s signature less those the builder sets itself (``fixed``).

    A target that takes ``default_cfg`` is given the metadata ``name`` was registered with
    (:func:`convzoo.registry.register_model`), the one copy of it.

    ``global_pool`` (timm's builder argument) is applied
    after construction. ``drop_path_rate=0`` is accepted and dropped where the family has none.
    """
    kwargs = dict(kwargs)
    pool = kwargs.pop("global_pool", None)
    allowed = accepted_args(target)
    if "default_cfg" in allowed and "default_cfg" not in fixed:
        fixed["default_cfg"] = registered_cfg(name)
    allowed -= set(fixed)
    if "drop_path_rate" in kwargs and "drop_path_rate" not in allowed:
        rate = kwargs.pop("drop_path_rate")
        if rate:
            raise ValueError(f"{name} ({family}) has no stochastic depth: drop_path_rate must be 0, "
                             f"got {rate!r}")
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ValueError(f"{name} ({family}) does not take {unknown[0]!r}; it takes "
                         f"{', '.join(sorted(allowed | {'global_pool'}))}")
    model = target(**fixed, **kwargs)
    if pool is not None:
        model.set_global_pool(pool)
    return model


def torchvision_args(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """torchvision's builder arguments in our names: ``stochastic_depth_prob`` -> ``drop_path_rate``,
    ``dropout`` -> ``drop_rate``; ``progress`` has nothing to show (nothing is downloaded);
    ``weights`` other than None is refused (convzoo downloads nothing)."""
    kwargs = dict(kwargs)
    weights = kwargs.pop("weights", None)
    if weights is not None:
        raise ValueError(f"{name}(weights={weights!r}): convzoo downloads nothing; build with "
                         f"weights=None and load a local file with convzoo.load_weights(model, path)")
    kwargs.pop("progress", None)
    for theirs, ours in (("stochastic_depth_prob", "drop_path_rate"), ("dropout", "drop_rate")):
        if theirs in kwargs:
            if ours in kwargs:
                raise ValueError(f"{name}: give {theirs} (torchvision) or {ours} (timm), not both")
            kwargs[ours] = kwargs.pop(theirs)
    return kwargs
