"""Plain-NumPy convolution: the test oracle for every layer in convzoo.

Nothing here uses PyTorch. The code favours being obviously right over being fast, and shares no code
path with the layers it checks:

* :func:`conv_nd` - N-d cross-correlation (what ``F.conv{1,2,3}d`` computes, and what deep learning
  calls "convolution") with stride, zero padding, dilation and groups, by summing shifted, strided
  slices of the padded input, one kernel tap at a time.
* :func:`conv_transpose_nd` - the transposed convolution, two independent ways:
  ``method="scatter"`` adds ``x[i] * kernel`` into the output at ``i * stride`` for every input
  element (Dive into Deep Learning, Sec. 14.10 "Transposed Convolution"); ``method="matrix"`` builds
  the dense matrix ``A`` of the convolution it is the transpose of and returns ``A.T @ x``.
* :func:`conv_matrix` - that dense matrix: ``conv_matrix(x.shape[1:], w, ...) @ x[n].ravel()`` equals
  ``conv_nd(x, w, ...)[n].ravel()``.

Layouts follow PyTorch: inputs ``(N, C, *S)``; conv weights ``(C_out, C_in / groups, *K)``; transposed
conv weights ``(C_in, C_out / groups, *K)``. Sizes follow Dumoulin & Visin 2016 (arXiv:1603.07285):
``o = floor((i + 2p - d(k - 1) - 1) / s) + 1`` and ``o' = (i' - 1)s - 2p + d(k - 1) + output_padding + 1``.
"""
from __future__ import annotations

import itertools
from typing import Optional, Sequence, Union

import numpy as np

IntOrSeq = Union[int, Sequence[int]]

__all__ = ["conv_nd", "conv_transpose_nd", "conv_matrix", "conv_output_shape",
           "conv_transpose_output_shape"]


def _tuple(value: IntOrSeq, nd: int, name: str) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)):
        return (int(value),) * nd
    value = tuple(int(v) for v in value)
    if len(value) != nd:
        raise ValueError(f"{name} must be an int or {nd} ints for a {nd}-d convolution, got {value}")
    return value


def _check(x: np.ndarray, w: np.ndarray, groups: int) -> int:
    """Validate shapes; return the number of spatial dims."""
    if x.ndim < 3:
        raise ValueError(f"x must be (N, C, *spatial) with at least one spatial axis, got shape {x.shape}")
    if w.ndim != x.ndim:
        raise ValueError(f"w must have as many axes as x ({x.ndim}), got shape {w.shape}")
    if groups < 1 or x.shape[1] % groups:
        raise ValueError(f"groups={groups} does not divide in_channels={x.shape[1]}")
    return x.ndim - 2


def conv_output_shape(input_size: Sequence[int], kernel_size: Sequence[int], stride: IntOrSeq = 1,
                      padding: IntOrSeq = 0, dilation: IntOrSeq = 1) -> tuple[int, ...]:
    """``o = floor((i + 2p - d(k - 1) - 1) / s) + 1`` per axis (Dumoulin & Visin, relationship 15)."""
    nd = len(input_size)
    s, p, d = (_tuple(v, nd, n) for v, n in ((stride, "stride"), (padding, "padding"),
                                              (dilation, "dilation")))
    return tuple((i + 2 * pi - di * (k - 1) - 1) // si + 1
                 for i, k, si, pi, di in zip(input_size, kernel_size, s, p, d))


def conv_transpose_output_shape(input_size: Sequence[int], kernel_size: Sequence[int],
                                stride: IntOrSeq = 1, padding: IntOrSeq = 0,
                                output_padding: IntOrSeq = 0, dilation: IntOrSeq = 1) -> tuple[int, ...]:
    """``o' = (i' - 1)s - 2p + d(k - 1) + output_padding + 1`` per axis."""
    nd = len(input_size)
    s, p, op, d = (_tuple(v, nd, n) for v, n in ((stride, "stride"), (padding, "padding"),
                                                  (output_padding, "output_padding"), (dilation, "dilation")))
    return tuple((i - 1) * si - 2 * pi + di * (k - 1) + opi + 1
                 for i, k, si, pi, opi, di in zip(input_size, kernel_size, s, p, op, d))


def conv_nd(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray] = None, stride: IntOrSeq = 1,
            padding: IntOrSeq = 0, dilation: IntOrSeq = 1, groups: int = 1) -> np.ndarray:
    """N-d cross-correlation of a batch, as ``F.conv{1,2,3}d`` computes it.

    ``out[n, o, *j] = b[o] + sum_{c, *t} w[o, c, *t] * xpad[n, g*C_in/G + c, *(j*s + t*d)]``
    where ``g`` is the group of output channel ``o``.

    Shape: x (N, C_in, *S), w (C_out, C_in / groups, *K), b (C_out,) -> (N, C_out, *O).
    """
    x, w = np.asarray(x), np.asarray(w)
    nd = _check(x, w, groups)
    n, c_in = x.shape[:2]
    c_out, c_per_group = w.shape[:2]
    if c_per_group * groups != c_in:
        raise ValueError(f"w expects {c_per_group * groups} input channels (C_in / groups = "
                         f"{c_per_group}, groups={groups}), got x with {c_in}")
    if c_out % groups:
        raise ValueError(f"groups={groups} does not divide out_channels={c_out}")
    s, p, d = (_tuple(v, nd, name) for v, name in ((stride, "stride"), (padding, "padding"),
                                                    (dilation, "dilation")))
    k = w.shape[2:]
    out_size = conv_output_shape(x.shape[2:], k, s, p, d)
    if any(o < 1 for o in out_size):
        raise ValueError(f"input {x.shape[2:]} is too small for kernel {k} with dilation {d} and "
                         f"padding {p}: output would be {out_size}")

    xpad = np.pad(x, [(0, 0), (0, 0)] + [(pi, pi) for pi in p])
    xg = xpad.reshape(n, groups, c_in // groups, *xpad.shape[2:])          # (N, G, C_in/G, *S_pad)
    wg = w.reshape(groups, c_out // groups, c_per_group, *k)                # (G, C_out/G, C_in/G, *K)
    out = np.zeros((n, groups, c_out // groups, *out_size), dtype=np.result_type(x, w))
    for tap in itertools.product(*(range(ki) for ki in k)):
        # The input samples this tap meets for every output position: start t*d, step s.
        window = tuple(slice(t * di, t * di + si * (o - 1) + 1, si)
                       for t, di, si, o in zip(tap, d, s, out_size))
        patch = xg[(Ellipsis,) + window]                                    # (N, G, C_in/G, *O)
        out += np.einsum("ngc...,goc->ngo...", patch, wg[(Ellipsis,) + tap])
    out = out.reshape(n, c_out, *out_size)
    if b is not None:
        out += np.asarray(b).reshape((1, c_out) + (1,) * nd)
    return out


def conv_transpose_nd(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray] = None,
                      stride: IntOrSeq = 1, padding: IntOrSeq = 0, output_padding: IntOrSeq = 0,
                      dilation: IntOrSeq = 1, groups: int = 1, method: str = "scatter") -> np.ndarray:
    """Transposed convolution, as ``F.conv_transpose{1,2,3}d`` computes it.

    ``method="scatter"``: every input element ``x[n, c, *i]`` adds ``x[n, c, *i] * w[c, :, *t]`` to the
    uncropped output at ``i*s + t*d``; then ``padding`` is cropped from both ends (Dive into Deep
    Learning, Sec. 14.10, generalised to channels, groups, stride and dilation).
    ``method="matrix"``: ``A.T @ x`` with ``A = conv_matrix`` of the convolution that maps the output
    shape back to the input shape - the definition of "transposed".
    ``output_padding`` keeps extra rows/columns at the far end only (they hold the taps that reach
    them, if any; it inserts no zeros into ``x``) and so picks which of the ``stride`` output sizes
    that a stride-``s`` conv maps to the same size is meant.

    Shape: x (N, C_in, *S), w (C_in, C_out / groups, *K), b (C_out,) -> (N, C_out, *O').
    """
    x, w = np.asarray(x), np.asarray(w)
    nd = _check(x, w, groups)
    n, c_in = x.shape[:2]
    if w.shape[0] != c_in:
        raise ValueError(f"w has {w.shape[0]} input channels (axis 0), x has {c_in}")
    c_out = w.shape[1] * groups
    s, p, op, d = (_tuple(v, nd, name) for v, name in ((stride, "stride"), (padding, "padding"),
                                                        (output_padding, "output_padding"),
                                                        (dilation, "dilation")))
    for opi, si, di in zip(op, s, d):
        if not 0 <= opi < max(si, di):
            raise ValueError(f"output_padding must be smaller than stride or dilation, got "
                             f"output_padding={op}, stride={s}, dilation={d}")
    k = w.shape[2:]
    out_size = conv_transpose_output_shape(x.shape[2:], k, s, p, op, d)
    if any(o < 1 for o in out_size):
        raise ValueError(f"padding {p} crops the whole output: size would be {out_size}")

    if method == "scatter":
        out = _transpose_by_scatter(x, w, s, p, d, groups, out_size)
    elif method == "matrix":
        # The conv (C_out, *O') -> (C_in, *S) this is the transpose of. When output_padding >= stride
        # (allowed if dilation > stride) that conv's output is longer than S: keep only S's rows.
        a = conv_matrix((c_out, *out_size), w, s, p, d, groups)
        conv_size = conv_output_shape(out_size, k, s, p, d)
        a = a.reshape(c_in, *conv_size, -1)[(slice(None),) + tuple(slice(0, i) for i in x.shape[2:])]
        out = (x.reshape(n, -1) @ a.reshape(-1, a.shape[-1])).reshape(n, c_out, *out_size)  # A.T @ x
    else:
        raise ValueError(f'method must be "scatter" or "matrix", got {method!r}')
    if b is not None:
        out = out + np.asarray(b).reshape((1, c_out) + (1,) * nd)
    return out


def _transpose_by_scatter(x, w, s, p, d, groups, out_size):
    n, c_in = x.shape[:2]
    k = w.shape[2:]
    c_out_g = w.shape[1]
    full = [(i - 1) * si + di * (ki - 1) + 1 for i, si, di, ki in zip(x.shape[2:], s, d, k)]
    # Uncropped output, long enough to hold output_padding too (cells that no tap reaches stay zero).
    full = [max(f, pi + o) for f, pi, o in zip(full, p, out_size)]
    y = np.zeros((n, groups, c_out_g, *full), dtype=np.result_type(x, w))
    xg = x.reshape(n, groups, c_in // groups, *x.shape[2:])
    wg = w.reshape(groups, c_in // groups, c_out_g, *k)
    for pos in np.ndindex(*x.shape[2:]):
        # x[..., pos] times the whole kernel lands on a dilated window that starts at pos * stride.
        window = tuple(slice(i * si, i * si + di * (ki - 1) + 1, di)
                       for i, si, di, ki in zip(pos, s, d, k))
        y[(slice(None), slice(None), slice(None)) + window] += np.einsum(
            "ngc,gco...->ngo...", xg[(Ellipsis,) + pos], wg)
    crop = tuple(slice(pi, pi + o) for pi, o in zip(p, out_size))
    return y[(Ellipsis,) + crop].reshape(n, groups * c_out_g, *out_size)


def conv_matrix(input_shape: Sequence[int], w: np.ndarray, stride: IntOrSeq = 1, padding: IntOrSeq = 0,
                dilation: IntOrSeq = 1, groups: int = 1) -> np.ndarray:
    """The dense matrix ``A`` of a convolution on one sample: ``A @ x.ravel() == conv_nd(x).ravel()``.

    ``input_shape`` is ``(C_in, *S)`` (no batch axis). Row ``(o, *j)`` holds output channel ``o`` at
    position ``j``; its non-zeros sit at columns ``(c, *(j*s - p + t*d))`` with value ``w[o, c', *t]``,
    where taps that fall into the zero padding are simply absent. ``A.T`` is the transposed conv.

    Shape: (C_out * prod(O), C_in * prod(S)).
    """
    w = np.asarray(w)
    c_in, *spatial = (int(v) for v in input_shape)
    nd = len(spatial)
    if w.ndim != nd + 2:
        raise ValueError(f"w must be (C_out, C_in / groups, *K) with {nd} kernel axes, got shape {w.shape}")
    if groups < 1 or c_in % groups:
        raise ValueError(f"groups={groups} does not divide in_channels={c_in}")
    c_out, c_per_group = w.shape[:2]
    if c_per_group * groups != c_in:
        raise ValueError(f"w expects {c_per_group * groups} input channels, input_shape has {c_in}")
    s, p, d = (_tuple(v, nd, name) for v, name in ((stride, "stride"), (padding, "padding"),
                                                    (dilation, "dilation")))
    k = w.shape[2:]
    out_size = conv_output_shape(spatial, k, s, p, d)
    if any(o < 1 for o in out_size):
        raise ValueError(f"input {tuple(spatial)} is too small for kernel {k}: output would be {out_size}")

    a = np.zeros((c_out * int(np.prod(out_size)), c_in * int(np.prod(spatial))), dtype=w.dtype)
    out_pos = np.indices(out_size).reshape(nd, -1)                 # (nd, prod(O)): every output j
    rows_in_channel = np.arange(out_pos.shape[1])
    for o in range(c_out):
        g = o // (c_out // groups)
        for c_local in range(c_per_group):
            c = g * c_per_group + c_local
            for tap in itertools.product(*(range(ki) for ki in k)):
                src = [j * si - pi + t * di for j, si, pi, t, di in zip(out_pos, s, p, tap, d)]
                inside = np.all([(v >= 0) & (v < n) for v, n in zip(src, spatial)], axis=0)
                cols = c * int(np.prod(spatial)) + np.ravel_multi_index(
                    [v[inside] for v in src], spatial)
                rows = o * out_pos.shape[1] + rows_in_channel[inside]
                a[rows, cols] += w[(o, c_local) + tap]             # one column per row: no clashes
    return a
