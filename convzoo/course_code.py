"""The course's coding exercises: the student writes a function, and it is run on a few random inputs
(fixed seeds) and compared with the NumPy oracle (:mod:`convzoo.reference`) or with torch.

Each entry of :data:`CODE_EXERCISES` is ``name -> (cases, what)``: ``cases()`` yields ``(args,
expected)`` pairs and ``what`` says in both languages what the function must return. The judge,
:func:`judge_function`, never raises: it returns ``(right, detail)`` where ``detail`` says, in
English and Spanish, what went wrong (an exception, a shape, a largest difference).
Used by :mod:`convzoo.course`; the reference solutions are in :mod:`convzoo.course_solutions`.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

import numpy as np

from .reference import conv_nd, conv_transpose_nd

Case = tuple[tuple, np.ndarray]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _probe() -> np.ndarray:
    """The image a returned kernel is judged on (a kernel is right when it filters like the oracle's)."""
    return _rng(99).standard_normal((1, 1, 20, 20))


def _two_passes_cases() -> Iterator[Case]:
    for seed, (h, w, kh, kw) in enumerate(((12, 10, 3, 5), (7, 9, 1, 3), (16, 16, 7, 7))):
        r = _rng(seed)
        image, col, row = r.standard_normal((h, w)), r.standard_normal(kh), r.standard_normal(kw)
        yield (image, col, row), conv_nd(image[None, None], np.outer(col, row)[None, None])[0, 0]


def _truncated_svd(k: np.ndarray, rank: int) -> np.ndarray:
    u, s, vt = np.linalg.svd(k)
    return (u[:, :rank] * s[:rank]) @ vt[:rank]


def _low_rank_cases() -> Iterator[Case]:
    """The approximation is judged by what it does: it must filter an image as the truncated SVD does."""
    two_pairs = np.outer([1, 2, 1], [1, 0, -1]) + np.outer([1, 0, -1], [1, 1, 1])
    kernels = ((two_pairs.astype(float), 2), (_rng(1).standard_normal((5, 5)), 1), (_rng(2).standard_normal((5, 5)), 3))
    for k, rank in kernels:
        yield (k, rank), conv_nd(_probe(), _truncated_svd(k, rank)[None, None])[0, 0]


def _low_rank_apply(fn):
    """low_rank returns a kernel; filter the same image with it, so a wrong kernel shows as a wrong image."""
    def run(k, rank):
        approx = np.asarray(fn(k, rank), dtype=float)
        if approx.shape != k.shape:
            raise _Shape(approx.shape, k.shape)
        return conv_nd(_probe(), approx[None, None])[0, 0]
    return run


def _depthwise_cases() -> Iterator[Case]:
    for seed, (c, h, w, k) in enumerate(((3, 8, 8, 3), (5, 9, 7, 3), (2, 10, 10, 5))):
        r = _rng(seed)
        x, wt = r.standard_normal((c, h, w)), r.standard_normal((c, k, k))
        yield (x, wt), conv_nd(x[None], wt[:, None], groups=c)[0]


def _relu6(y: np.ndarray) -> np.ndarray:
    return np.clip(y, 0, 6)


def _inverted_residual_cases() -> Iterator[Case]:
    for seed, (c, t, h) in enumerate(((4, 6, 6), (3, 2, 5))):
        r = _rng(seed)
        x = r.standard_normal((c, h, h))
        w_exp, w_dw = r.standard_normal((t * c, c)), r.standard_normal((t * c, 3, 3))
        w_proj = r.standard_normal((c, t * c))
        hid = _relu6(conv_nd(x[None], w_exp[:, :, None, None]))
        hid = _relu6(conv_nd(hid, w_dw[:, None], padding=1, groups=t * c))
        yield (x, w_exp, w_dw, w_proj), x + conv_nd(hid, w_proj[:, :, None, None])[0]


def _multipliers_cases() -> Iterator[Case]:
    from .scaling.law import compound
    for phi in (0, 1, 2, 3, 1.5):
        m = compound(phi)
        yield (phi,), np.array([m.depth, m.width, m.resolution])


def _layer_norm_cases() -> Iterator[Case]:
    import torch
    for seed, (c, h, w) in enumerate(((6, 4, 5), (96, 3, 3))):
        r = _rng(seed)
        x, g, b = r.standard_normal((c, h, w)) * 3 + 1, r.standard_normal(c), r.standard_normal(c)
        t = lambda a: torch.from_numpy(a)
        ref = torch.nn.functional.layer_norm(t(x).permute(1, 2, 0), (c,), t(g), t(b), eps=1e-6).permute(2, 0, 1)
        yield (x, g, b), ref.numpy()


def _dilate_cases() -> Iterator[Case]:
    for seed, (k, d) in enumerate(((3, 2), (3, 1), (5, 3), (2, 4))):
        w = _rng(seed).standard_normal((k, k))
        yield (w, d), conv_nd(_probe(), w[None, None], dilation=d)[0, 0]


def _dilate_apply(fn):
    """dilate_kernel returns a kernel; an undilated conv with it must equal the dilated conv."""
    def run(w, d):
        big = np.asarray(fn(w, d), dtype=float)
        want = (d * (w.shape[0] - 1) + 1,) * 2
        if big.shape != want:
            raise _Shape(big.shape, want)
        return conv_nd(_probe(), big[None, None])[0, 0]
    return run


def _transpose_cases() -> Iterator[Case]:
    for seed, (n, k, s) in enumerate(((5, 3, 2), (4, 4, 2), (6, 2, 3), (3, 3, 1))):
        r = _rng(seed)
        x, w = r.standard_normal(n), r.standard_normal(k)
        yield (x, w, s), conv_transpose_nd(x[None, None], w[None, None], stride=s)[0, 0]


def _conv1d_cases() -> Iterator[Case]:
    for seed, (n, k, s) in enumerate(((100, 8, 4), (50, 5, 1), (37, 6, 3))):
        r = _rng(seed)
        x, w = r.standard_normal(n), r.standard_normal(k)
        yield (x, w, s), conv_nd(x[None, None], w[None, None], stride=s)[0, 0]


def _conv3d_cases() -> Iterator[Case]:
    for seed, (c, n, t, k, frames, size) in enumerate(((2, 3, 3, 3, 5, 6), (1, 2, 2, 1, 4, 4))):
        r = _rng(seed)
        x, w = r.standard_normal((c, frames, size, size)), r.standard_normal((n, c, t, k, k))
        yield (x, w), conv_nd(x[None], w)[0]


# name -> (cases, how to call the student's function (None: as is), what it returns: en, es)
CODE_EXERCISES: dict[str, tuple[Callable[[], Iterator[Case]], Optional[Callable], dict]] = {
    "sobel.two_passes": (_two_passes_cases, None, {
        "en": "the valid cross-correlation of image with np.outer(col, row), in two 1D passes",
        "es": "la correlación cruzada válida de image con np.outer(col, row), en dos pasadas 1D"}),
    "spatial.low_rank": (_low_rank_cases, _low_rank_apply, {
        "en": "the best rank-R approximation of K (a sum of R column-times-row pairs)",
        "es": "la mejor aproximación de rango R de K (una suma de R pares columna por fila)"}),
    "depthwise.depthwise": (_depthwise_cases, None, {
        "en": "each channel of x filtered by its own kernel (valid, no mixing of channels)",
        "es": "cada canal de x filtrado con su propio núcleo (válida, sin mezclar canales)"}),
    "mbconv.block": (_inverted_residual_cases, None, {
        "en": "x + project(relu6(depthwise(relu6(expand(x))))), depthwise 3x3 with padding 1",
        "es": "x + project(relu6(depthwise(relu6(expand(x))))), en profundidad 3x3 con relleno 1"}),
    "effnet.multipliers": (_multipliers_cases, None, {
        "en": "(depth, width, resolution) = (1.2**phi, 1.1**phi, 1.15**phi)",
        "es": "(profundidad, anchura, resolución) = (1.2**phi, 1.1**phi, 1.15**phi)"}),
    "convnext.layer_norm": (_layer_norm_cases, None, {
        "en": "x normalised over its channels at every pixel (eps 1e-6), times weight plus bias",
        "es": "x normalizado sobre sus canales en cada píxel (eps 1e-6), por weight más bias"}),
    "dilated.dilate_kernel": (_dilate_cases, _dilate_apply, {
        "en": "w with d - 1 zeros between neighbouring taps, shape (d(k-1)+1, d(k-1)+1)",
        "es": "w con d - 1 ceros entre coeficientes vecinos, forma (d(k-1)+1, d(k-1)+1)"}),
    "transposed.scatter": (_transpose_cases, None, {
        "en": "the transposed convolution of x with w at that stride: length (L-1)s + k",
        "es": "la convolución transpuesta de x con w con ese paso: longitud (L-1)s + k"}),
    "conv1d.conv1d": (_conv1d_cases, None, {
        "en": "the valid cross-correlation of x with w at that stride: length (L-k)//s + 1",
        "es": "la correlación cruzada válida de x con w con ese paso: longitud (L-k)//s + 1"}),
    "conv3d.conv3d": (_conv3d_cases, None, {
        "en": "the valid 3D convolution of x (C, T, H, W) with w (N, C, t, k, k): shape (N, T-t+1, H-k+1, W-k+1)",
        "es": "la convolución 3D válida de x (C, T, H, W) con w (N, C, t, k, k): forma (N, T-t+1, H-k+1, W-k+1)"}),
}


class _Shape(Exception):
    def __init__(self, got, want):
        super().__init__(got, want)
        self.got, self.want = tuple(got), tuple(want)


def _shapes(args: tuple) -> str:
    return ", ".join(str(tuple(np.shape(a))) if np.ndim(a) else repr(a) for a in args)


def judge_function(name: str, fn: Any) -> tuple[Optional[bool], Optional[dict]]:
    """Run ``fn`` on the exercise's cases: ``(True, None)`` if it matches the oracle on all of them,
    ``(None, None)`` while it still returns None (not written yet), else ``(False, {"en": ..., "es": ...})``."""
    cases, wrap, what = CODE_EXERCISES[name]
    if not callable(fn):
        return False, {"en": f"give the function itself (its name, no parentheses); it should return {what['en']}",
                       "es": f"pasa la función misma (su nombre, sin paréntesis); debe devolver {what['es']}"}
    call = wrap(fn) if wrap is not None else fn
    for args, expected in cases():
        try:
            got = call(*(a.copy() if isinstance(a, np.ndarray) else a for a in args))
            if got is None:
                return None, None
            got = np.asarray(got.detach() if hasattr(got, "detach") else got, dtype=float)
        except _Shape as e:
            return False, {"en": f"returned shape {e.got}, expected {e.want} (inputs {_shapes(args)})",
                           "es": f"devolvió la forma {e.got}, se esperaba {e.want} (entradas {_shapes(args)})"}
        except Exception as e:   # the student's code: any error becomes one line, not a traceback
            line = f"{type(e).__name__}: {e}".splitlines()[0][:160]
            return False, {"en": f"your function raised {line} (inputs {_shapes(args)})",
                           "es": f"tu función lanzó {line} (entradas {_shapes(args)})"}
        if got.shape != expected.shape:
            got_s, want_s, inputs = got.shape, expected.shape, _shapes(args)
            return False, {"en": f"returned shape {got_s}, expected {want_s} (inputs {inputs})",
                           "es": f"devolvió la forma {got_s}, se esperaba {want_s} (entradas {inputs})"}
        if not np.allclose(got, expected, rtol=1e-5, atol=1e-6):
            err = float(np.abs(got - expected).max())
            return False, {"en": f"differs from the oracle by up to {err:.3g} (inputs {_shapes(args)})",
                           "es": f"difiere del oráculo hasta en {err:.3g} (entradas {_shapes(args)})"}
    return True, None
