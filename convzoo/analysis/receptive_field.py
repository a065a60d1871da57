"""Receptive field of a stack of convolutions and pools.

Going up one layer with kernel k, stride s, dilation d, on a map whose adjacent units lie ``jump``
input samples apart (the product of earlier strides):

    rf'   = rf + (k - 1) * d * jump
    jump' = jump * s

Yu & Koltun's context module (arXiv:1511.07122, Table 1: 3x3 convs dilated 1, 1, 2, 4, 8, 16, 1,
then 1x1) gives 3, 5, 9, 17, 33, 65, 67, 67; a dilated 3x3 stack with dilations 2^i grows as
2^(i+2) - 1 (their Eq. 3).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Optional, Union

from torch import nn

IntOrTuple = Union[int, tuple[int, ...]]


@dataclass(frozen=True)
class RFLayer:
    """One layer of a :func:`receptive_field` walk: its geometry and the receptive field after it."""

    name: str
    kernel: IntOrTuple
    stride: IntOrTuple
    dilation: IntOrTuple
    receptive_field: IntOrTuple     # input samples seen by one output unit, per axis
    jump: IntOrTuple                # input samples between adjacent output units (total stride)

    def to_dict(self) -> dict:
        return asdict(self)


def _tup(v, n: int, name: str) -> tuple[int, ...]:
    if isinstance(v, (tuple, list)):
        if len(v) != n:
            raise ValueError(f"{name} has {len(v)} axes, expected {n}: {v!r}")
        out = tuple(v)
    else:
        out = (v,) * n
    if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in out):
        raise ValueError(f"{name} must be ints >= 1, got {v!r}")
    return out


def rf_step(rf: tuple[int, ...], jump: tuple[int, ...], k, s, d) -> tuple[tuple, tuple]:
    """One layer of the recurrence, per axis."""
    new_rf = tuple(r + (kk - 1) * dd * j for r, kk, dd, j in zip(rf, k, d, jump))
    new_jump = tuple(j * ss for j, ss in zip(jump, s))
    return new_rf, new_jump


def _layers_of_module(module: nn.Module) -> list[tuple[str, tuple, tuple, tuple]]:
    """Convs and kernel pools in registration order (Sequential order for plain stacks)."""
    out = []
    for name, m in module.named_modules():
        if isinstance(m, nn.modules.conv._ConvTransposeNd):
            raise ValueError(f"receptive_field: {name or type(m).__name__} is a transposed conv; "
                             "the receptive field is defined for convs and pools only")
        if isinstance(m, nn.modules.conv._ConvNd):
            out.append((name, tuple(m.kernel_size), tuple(m.stride), tuple(m.dilation)))
        elif isinstance(m, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
                            nn.modules.pooling._LPPoolNd)):
            n = {"1d": 1, "2d": 2, "3d": 3}.get(type(m).__name__[-2:].lower(), 1)
            k = m.kernel_size
            s = m.stride if m.stride is not None else k
            d = getattr(m, "dilation", 1)
            out.append((name, _tup(k, n, "kernel_size"), _tup(s, n, "stride"), _tup(d, n, "dilation")))
    return out


def _normalise(spec, i: int) -> tuple[str, Any, Any, Any]:
    if isinstance(spec, dict):
        unknown = set(spec) - {"kernel", "kernel_size", "stride", "dilation", "name"}
        if unknown or not ({"kernel", "kernel_size"} & set(spec)):
            raise ValueError(f"layer {i}: expected a dict with 'kernel' (or 'kernel_size') and "
                             f"optional 'stride', 'dilation', 'name', got keys {sorted(spec)}")
        return (spec.get("name", str(i)), spec.get("kernel", spec.get("kernel_size")),
                spec.get("stride", 1), spec.get("dilation", 1))
    if isinstance(spec, (tuple, list)) and 1 <= len(spec) <= 3:
        k, s, d = (list(spec) + [1, 1])[:3]
        return str(i), k, s, d
    raise TypeError(f"layer {i}: expected (kernel, stride, dilation) or a dict, got {spec!r}")


def receptive_field(layers: Union[nn.Module, Iterable]) -> list[RFLayer]:
    """Receptive field and jump after each layer of a stack.

    ``layers`` is a list of ``(kernel, stride, dilation)`` tuples (stride and dilation optional) or
    dicts with keys ``kernel``/``kernel_size``, ``stride``, ``dilation``, ``name``; or an
    ``nn.Module``, whose convs and max/avg pools are taken in registration order (the data order of a
    plain stack; for branching networks use :func:`profile`, which follows the actual data flow).
    Values are ints or per-axis tuples; results are ints when every input is an int (for a module:
    when every kernel, stride and dilation is the same on all axes).

        >>> [l.receptive_field for l in receptive_field([(3, 1, 1), (3, 1, 1), (3, 1, 2)])]
        [3, 5, 9]
    """
    if isinstance(layers, nn.Module):
        raw = _layers_of_module(layers)
        if not raw:
            raise ValueError(f"receptive_field: {type(layers).__name__} has no convs or pools")
    else:
        try:
            raw = [_normalise(spec, i) for i, spec in enumerate(layers)]
        except TypeError as e:
            if "expected" in str(e):
                raise
            raise TypeError(f"receptive_field expects an nn.Module or a list of (kernel, stride, "
                            f"dilation), got {type(layers).__name__}") from None
    if isinstance(layers, nn.Module):      # modules store tuples; report ints for isotropic stacks
        scalar = all(len(set(v)) == 1 for r in raw for v in r[1:])
    else:
        scalar = all(not isinstance(v, (tuple, list)) for r in raw for v in r[1:])
    n = max([len(v) for r in raw for v in r[1:] if isinstance(v, (tuple, list))] or [1])
    rf, jump = (1,) * n, (1,) * n
    out: list[RFLayer] = []
    for name, k, s, d in raw:
        k, s, d = _tup(k, n, "kernel"), _tup(s, n, "stride"), _tup(d, n, "dilation")
        rf, jump = rf_step(rf, jump, k, s, d)
        pick = (lambda t: t[0]) if scalar else (lambda t: t)
        out.append(RFLayer(name, pick(k), pick(s), pick(d), pick(rf), pick(jump)))
    return out


def simplify(v: Optional[tuple]) -> Optional[IntOrTuple]:
    """(7, 7) -> 7; (3, 7, 7) stays; None stays."""
    if v is None:
        return None
    return v[0] if len(set(v)) == 1 else tuple(v)
