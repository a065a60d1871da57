"""Figure 7: transposed convolution, the 2x2 worked example of Dive into Deep Learning (Sec. 14.10,
Fig. 14.10.1): input [[0, 1], [2, 3]], kernel [[0, 1], [2, 3]], stride 1 -> 3x3 output.

Top: each input element times the kernel, scattered to its place, then summed -- each partial is
``convzoo.reference.conv_transpose_nd(..., method="scatter")`` of a one-hot-masked input.
Bottom: the same output as ``conv_matrix(...).T @ x``: the transpose of the matrix of the 3x3 -> 2x2
convolution with that kernel (``convzoo.reference.conv_matrix``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import (LABEL_PT, PAGE_WIDTH_IN, TITLE_PT, DEFAULT_FORMATS, FigureResult, annotate_matrix, new_figure,
                      save_figure)

# The figure's words in each page language (``lang``): the Spanish uses the lecture's terms.
LABELS = {
    "en": dict(input="input x (2x2)", kernel="kernel K (2x2)", times="times K", output="= output (3x3)",
               ct="C^T: transpose of the 4x9 matrix of the 3x3 -> 2x2 conv with K", flat="x, flattened",
               same="C^T x, reshaped: the same 3x3",
               title="Figure 7. Transposed convolution: scatter each input element times the kernel, and sum "
                     "-- or multiply by the transposed conv matrix"),
    "es": dict(input="entrada x (2x2)", kernel="núcleo K (2x2)", times="por K", output="= salida (3x3)",
               ct="C^T: traspuesta de la matriz 4x9 de la convolución 3x3 -> 2x2 con K", flat="x, aplanada",
               same="C^T x, reordenada: la misma 3x3",
               title="Figura 7. Convolución transpuesta: esparcir cada elemento de entrada por el núcleo y sumar "
                     "-- o multiplicar por la matriz de la convolución traspuesta"),
}
X = np.array([[0.0, 1.0], [2.0, 3.0]])
KERNEL = np.array([[0.0, 1.0], [2.0, 3.0]])


def _grid(ax, arr, title, highlight=None, cmap="Blues", vmax=None):
    arr = np.asarray(arr, dtype=float)
    ax.imshow(arr, cmap=cmap, vmin=0, vmax=vmax if vmax is not None else max(arr.max(), 1))
    annotate_matrix(ax, arr, "{:g}", fontsize=LABEL_PT)
    ax.set_xticks(np.arange(-0.5, arr.shape[1], 1), minor=True)
    ax.set_yticks(np.arange(-0.5, arr.shape[0], 1), minor=True)
    ax.grid(which="minor", color="0.6", lw=0.6)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    if highlight is not None:
        from matplotlib.patches import Rectangle
        (i, j), (h, w) = highlight
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), w, h, fill=False, ec="#C44E52", lw=2))
    ax.set_title(title, fontsize=LABEL_PT)


def figure_transposed(out_dir: Path, *, formats=DEFAULT_FORMATS, fast: bool = False, run_dir=None,
                      seed: int = 0, lang: str = "en") -> FigureResult:
    """``lang="es"`` draws the Spanish labels into ``fig7_transposed.es.*`` (the Spanish site's copy)."""
    from ..reference import conv_matrix, conv_transpose_nd

    if lang not in LABELS:
        raise ValueError(f"lang must be one of {sorted(LABELS)}, got {lang!r}")
    words = LABELS[lang]

    x4, w4 = X[None, None], KERNEL[None, None]               # (N, C, H, W), (C_in, C_out, kh, kw)
    partials = {}
    for i, j in np.ndindex(*X.shape):
        mask = np.zeros_like(X)
        mask[i, j] = 1.0
        partials[(i, j)] = conv_transpose_nd((X * mask)[None, None], w4, method="scatter")[0, 0]
    y_scatter = conv_transpose_nd(x4, w4, method="scatter")[0, 0]
    y_matrix_fn = conv_transpose_nd(x4, w4, method="matrix")[0, 0]
    out_hw = y_scatter.shape
    # The conv that maps the 3x3 output back to the 2x2 input; its matrix transposed is ours.
    C = conv_matrix((1, *out_hw), w4.transpose(1, 0, 2, 3))
    y_matrix = (C.T @ X.ravel()).reshape(out_hw)

    fig = new_figure(PAGE_WIDTH_IN, 10.5)
    outer = fig.add_gridspec(3, 1, height_ratios=[1, 1.1, 1.6])
    top = outer[0].subgridspec(1, 3, width_ratios=[0.8, 0.8, 1])
    _grid(fig.add_subplot(top[0, 0]), X, words["input"], cmap="Greens", vmax=4)
    _grid(fig.add_subplot(top[0, 1]), KERNEL, words["kernel"], cmap="Oranges", vmax=4)
    _grid(fig.add_subplot(top[0, 2]), y_scatter, words["output"], cmap="Purples", vmax=12)
    middle = outer[1].subgridspec(1, 4)
    for n, ((i, j), part) in enumerate(partials.items()):
        sign = "" if n == 0 else "+ "
        _grid(fig.add_subplot(middle[0, n]), part, f"{sign}x[{i},{j}] = {X[i, j]:g}\n{words['times']}",
              highlight=((i, j), KERNEL.shape), vmax=12)
    bottom = outer[2].subgridspec(1, 4, width_ratios=[2.2, 0.6, 0.35, 1])
    ax = fig.add_subplot(bottom[0, 0])
    _grid(ax, C.T, words["ct"], cmap="Oranges", vmax=4)
    ax = fig.add_subplot(bottom[0, 1])
    _grid(ax, X.reshape(-1, 1), words["flat"], cmap="Greens", vmax=4)
    ax = fig.add_subplot(bottom[0, 2])
    ax.axis("off")
    ax.text(0.5, 0.5, "=", fontsize=18, ha="center", va="center")
    _grid(fig.add_subplot(bottom[0, 3]), y_matrix, words["same"], cmap="Purples", vmax=12)
    fig.suptitle(words["title"], fontsize=TITLE_PT)

    data = {"x": X, "kernel": KERNEL, "partials": partials, "y_scatter": y_scatter,
            "y_matrix": y_matrix, "y_matrix_method": y_matrix_fn, "conv_matrix": C}
    paths = save_figure(fig, out_dir, "fig7_transposed" + ("" if lang == "en" else f".{lang}"), formats)
    return FigureResult(7, "transposed", "Transposed convolution: scatter and matrix", paths, data)
