"""Convolution arithmetic: output sizes (Dumoulin & Visin 2016) and the separable cost ratio.

Dumoulin & Visin, "A guide to convolution arithmetic for deep learning" (arXiv:1603.07285): its 15
relationships are special cases of two formulas, Relationship 15 (dilated, the general forward case)
and Relationship 14 (transposed, general):

    o  = floor((i + 2p - k - (k - 1)(d - 1)) / s) + 1
    o' = s (i' - 1) + a + k - 2p         (a = output_padding, dilation d: k -> (k - 1) d + 1)

The transposed formula is PyTorch's ``ConvTranspose`` shape rule. Arguments are ints or per-axis
tuples; ints broadcast against tuples, and the result is a tuple iff any argument is.
"""
from __future__ import annotations

from typing import Sequence, Union

IntOrTuple = Union[int, Sequence[int]]


def _axes(name_values: dict) -> tuple[int, bool]:
    n, any_tuple = 1, False
    for name, v in name_values.items():
        if isinstance(v, bool) or not isinstance(v, (int, tuple, list)):
            raise TypeError(f"{name} must be an int or a tuple of ints, got {type(v).__name__} {v!r}")
        if isinstance(v, (tuple, list)):
            if not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
                raise TypeError(f"{name} must contain ints, got {v!r}")
            if any_tuple and len(v) != n:
                raise ValueError(f"per-axis arguments must have the same length, got {name}={v!r} "
                                 f"for {n} axes")
            n, any_tuple = len(v), True
    return n, any_tuple


def _per_axis(v: IntOrTuple, n: int) -> tuple[int, ...]:
    if isinstance(v, (tuple, list)):
        return tuple(int(a) for a in v)
    return (int(v),) * n  # type: ignore[arg-type]


def conv_output_size(i: IntOrTuple, k: IntOrTuple, s: IntOrTuple = 1, p: IntOrTuple = 0,
                     d: IntOrTuple = 1) -> IntOrTuple:
    """Output size of a convolution or pooling: ``floor((i + 2p - k - (k-1)(d-1)) / s) + 1``.

    Dumoulin & Visin Relationship 15 (Relationships 1-7 are its special cases). ``i`` input size,
    ``k`` kernel, ``s`` stride, ``p`` zero padding on each side, ``d`` dilation; matches
    ``nn.ConvNd`` / ``nn.MaxPoolNd`` (with ``ceil_mode=False``).

        >>> conv_output_size(224, 3, s=2, p=1)
        112
        >>> conv_output_size((16, 112, 112), (3, 7, 7), s=(1, 2, 2), p=(1, 3, 3))
        (16, 56, 56)
    """
    n, as_tuple = _axes(dict(i=i, k=k, s=s, p=p, d=d))
    out = []
    for ii, kk, ss, pp, dd in zip(*(_per_axis(v, n) for v in (i, k, s, p, d))):
        if ii < 1 or kk < 1 or ss < 1 or dd < 1 or pp < 0:
            raise ValueError(f"expected i, k, s, d >= 1 and p >= 0, got i={ii}, k={kk}, s={ss}, "
                             f"p={pp}, d={dd}")
        k_eff = kk + (kk - 1) * (dd - 1)
        if ii + 2 * pp < k_eff:
            raise ValueError(f"the (dilated) kernel ({k_eff}) is larger than the padded input "
                             f"({ii} + 2*{pp} = {ii + 2 * pp})")
        out.append((ii + 2 * pp - k_eff) // ss + 1)
    return tuple(out) if as_tuple else out[0]


def conv_transpose_output_size(i: IntOrTuple, k: IntOrTuple, s: IntOrTuple = 1, p: IntOrTuple = 0,
                               output_padding: IntOrTuple = 0, d: IntOrTuple = 1) -> IntOrTuple:
    """Output size of a transposed convolution: ``s (i - 1) + a + (k - 1) d + 1 - 2p``.

    Dumoulin & Visin Relationship 14 (``a = output_padding``; Relationships 8-13 are its special
    cases), extended to dilation as ``nn.ConvTransposeNd`` does. ``p`` is the padding of the *forward*
    conv being transposed. ``output_padding`` (``a``) picks one of the ``s`` input sizes that the
    forward conv maps to the same output size; PyTorch requires ``a < max(s, d)``.

        >>> conv_transpose_output_size(7, 3, s=2, p=1, output_padding=1)
        14
    """
    n, as_tuple = _axes(dict(i=i, k=k, s=s, p=p, output_padding=output_padding, d=d))
    out = []
    for ii, kk, ss, pp, aa, dd in zip(*(_per_axis(v, n) for v in (i, k, s, p, output_padding, d))):
        if ii < 1 or kk < 1 or ss < 1 or dd < 1 or pp < 0 or aa < 0:
            raise ValueError(f"expected i, k, s, d >= 1 and p, output_padding >= 0, got i={ii}, "
                             f"k={kk}, s={ss}, p={pp}, output_padding={aa}, d={dd}")
        if aa >= max(ss, dd):
            raise ValueError(f"output_padding must be smaller than stride or dilation, got "
                             f"output_padding={aa} with s={ss}, d={dd}")
        o = ss * (ii - 1) + aa + (kk - 1) * dd + 1 - 2 * pp
        if o < 1:
            raise ValueError(f"padding p={pp} leaves no output (size {o}) for i={ii}, k={kk}, s={ss}")
        out.append(o)
    return tuple(out) if as_tuple else out[0]


def separable_cost_ratio(k: IntOrTuple, n: int) -> float:
    """Cost of a depthwise separable conv relative to the full conv: ``1/N + 1/D_K^2``.

    MobileNetV1 (Howard et al. 2017, arXiv:1704.04861) Eq. 5 divided by Eq. 2: the same for MACs
    and for (bias-free) weights. ``k`` is the kernel size (int, or a per-axis tuple, where
    ``D_K^2`` becomes ``prod(k)``); ``n`` the number of output channels N. Depth multiplier 1.

        >>> round(separable_cost_ratio(3, 512), 4)
        0.1131
    """
    ks = tuple(k) if isinstance(k, (tuple, list)) else (k, k)
    if not all(isinstance(x, int) and x >= 1 for x in ks) or not isinstance(n, int) or n < 1:
        raise ValueError(f"expected kernel size(s) >= 1 and n >= 1, got k={k!r}, n={n!r}")
    kk = 1
    for x in ks:
        kk *= x
    return 1.0 / n + 1.0 / kk
