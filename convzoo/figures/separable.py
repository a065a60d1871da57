"""Figure 1: separable filters. A kernel of rank 1 is the outer product of a column and a row, so
filtering with it costs two 1D passes (k + k instead of k^2 multiplies per pixel).

Factors, singular values and errors come from ``convzoo.separable.factorize_kernel``; the filtered
image from ``convzoo.separable.separable_filter``, compared with one full 2D correlation
(``torch.nn.functional.conv2d`` on the same reflect-101 padded image).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .._extras import require
from ._common import (LABEL_PT, PAGE_WIDTH_IN, TITLE_PT, DEFAULT_FORMATS, PALETTE, FigureResult, annotate_matrix,
                      decimals, new_figure, save_figure, stem_for, strip_ticks, words_for)

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
# the lecture's factors, Sobel x = [1, 2, 1]^T . [-1, 0, 1]: the filtered panel uses them (the SVD's are
# the same up to rounding, and rounding is what a CPU changes)
SOBEL_COLUMN, SOBEL_ROW = np.array([1.0, 2.0, 1.0]), np.array([-1.0, 0.0, 1.0])
BINOMIAL_5 = np.array([1, 4, 6, 4, 1], dtype=np.float64)
GAUSSIAN_5 = np.outer(BINOMIAL_5, BINOMIAL_5) / 256.0        # the 5x5 binomial Gaussian (sigma ~ 1)
DISK_RADIUS = 3


def disk_kernel(radius: int = DISK_RADIUS) -> np.ndarray:
    """A normalised pillbox ("bokeh") blur: not separable -- its SVD needs several pairs."""
    r = np.arange(-radius, radius + 1)
    disk = (r[:, None] ** 2 + r[None, :] ** 2 <= radius ** 2 + 0.5).astype(np.float64)
    return disk / disk.sum()


def sample_image(max_side: int = 240) -> np.ndarray:
    """A real photograph bundled with scikit-learn (no download), in 8-bit grey levels (the integers
    0-255, as float64). Integer pixels keep an integer kernel's sums exact whatever order a CPU adds them
    in: the full and the separable Sobel then agree to 0.0 on every machine, and the figure's
    difference panel shows that, not one CPU's rounding (on [0, 1] pixels it drew 1e-16 noise that
    moved 2,600 pixels between an AMD EPYC and an Intel Xeon)."""
    load_sample_image = require("sklearn.datasets", "figures", "the sample photo").load_sample_image

    rgb = load_sample_image("china.jpg").astype(np.float64)
    gray = np.round(rgb @ np.array([0.299, 0.587, 0.114]))
    step = int(np.ceil(max(gray.shape) / max_side))
    return np.ascontiguousarray(gray[::step, ::step])


def _display_factors(col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rescale a pair so the column starts at 1 (1-2-1, 1-4-6-4-1): same outer product."""
    c0 = col[0] if abs(col[0]) > 1e-12 else col[np.argmax(np.abs(col))]
    return col / c0, row * c0


def full_correlation(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """One 2D correlation with reflect-101 borders (torch's 'reflect' = OpenCV BORDER_REFLECT_101)."""
    kh, kw = kernel.shape
    x = torch.from_numpy(image)[None, None]
    x = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2), mode="reflect")
    return F.conv2d(x, torch.from_numpy(kernel)[None, None])[0, 0].numpy()


# The figure's words in each page language (``lang``): the Spanish uses the lecture's terms.
LABELS = {
    "en": dict(gaussian="5x5 Gaussian", column="column", row="x  row", rank="\nrank {r}: one pair",
               disk="disk (pillbox) 7x7", index="singular value index r",
               spectrum="singular values; the disk has rank {r}\n(rel. error at rank 1..{r}: {errs})",
               nonsep="non-separable: disk 7x7", photo="photo (scikit-learn sample)",
               full="Sobel x, full 2D conv (9 MACs/px)", sep="Sobel x, column then row (6 MACs/px)",
               diff="difference (max |d| = {d})",
               title="Figure 1. Separable filters: a rank-1 kernel is a column times a row "
                     "(factors from factorize_kernel)"),
    "es": dict(gaussian="gaussiana 5x5", column="columna", row="x  fila", rank="\nrango {r}: un par",
               disk="disco (pillbox) 7x7", index="índice del valor singular r",
               spectrum="valores singulares; el disco tiene rango {r}\n(error rel. con rango 1..{r}: {errs})",
               nonsep="no separable: disco 7x7", photo="foto (muestra de scikit-learn)",
               full="Sobel x, conv. 2D completa (9 MACs/px)", sep="Sobel x, columna y luego fila (6 MACs/px)",
               diff="diferencia (máx. |d| = {d})",
               title="Figura 1. Filtros separables: un núcleo de rango 1 es una columna por una fila "
                     "(factores de factorize_kernel)"),
}


def figure_separable(out_dir: Path, *, formats=DEFAULT_FORMATS, fast: bool = False, run_dir=None,
                     seed: int = 0, lang: str = "en") -> FigureResult:
    """``lang="es"`` draws the Spanish labels into ``fig1_separable.es.*`` (the Spanish site's copy)."""
    from ..separable import factorize_kernel, separable_filter

    words = words_for(LABELS, lang)

    kernels = {"sobel_x": SOBEL_X, "gaussian_5x5": GAUSSIAN_5}
    data: dict = {}
    for name, k in kernels.items():
        f = factorize_kernel(k)
        col, row = _display_factors(f.columns[0], f.rows[0])
        data[name] = {"kernel": k, "rank": f.rank, "column": f.columns[0], "row": f.rows[0],
                      "column_display": col, "row_display": row, "singular_values": f.singular_values,
                      "reconstruction": f.reconstruct()}
    disk = disk_kernel()
    fd = factorize_kernel(disk)
    data["disk"] = {"kernel": disk, "rank": fd.rank, "singular_values": fd.singular_values,
                    "relative_errors": fd.relative_errors}
    image = sample_image(160 if fast else 240)
    full = full_correlation(image, SOBEL_X)
    sep = np.asarray(separable_filter(image, (SOBEL_COLUMN, SOBEL_ROW), mode="correlation", border="reflect"))
    data["filtered"] = {"kernel": "sobel_x", "image_shape": image.shape,
                        "max_abs_diff": float(np.max(np.abs(full - sep))),
                        "max_abs_response": float(np.max(np.abs(full)))}

    fig = new_figure(PAGE_WIDTH_IN, 11.5)
    outer = fig.add_gridspec(3, 1, height_ratios=[1, 1.3, 1.6])
    # a narrow spacer first: the Sobel column's title needs room left of its thin axes
    top = outer[0].subgridspec(1, 8, width_ratios=[0.2, 0.28, 0.85, 0.85, 0.12, 0.4, 1.3, 1.3])
    middle = outer[1].subgridspec(1, 2, width_ratios=[2, 1])
    bottom = outer[2].subgridspec(2, 2)
    # Top: Sobel and Gaussian as column x row = kernel; then the singular-value spectra.
    for c0, name, title, mult in ((1, "sobel_x", "Sobel x", 1), (5, "gaussian_5x5", words["gaussian"], 256)):
        d = data[name]
        parts = [(d["column_display"][:, None], words["column"], 1),
                 (d["row_display"][None, :], words["row"] + (f" (x{mult})" if mult != 1 else "") + "  =", mult),
                 (d["kernel"], title + (f" (x{mult})" if mult != 1 else "") + words["rank"].format(r=d["rank"]), mult)]
        for j, (arr, label, m) in enumerate(parts):
            ax = fig.add_subplot(top[0, c0 + j])
            v = float(np.abs(arr).max())
            ax.imshow(arr, cmap="coolwarm", vmin=-v, vmax=v)
            annotate_matrix(ax, arr * m + 0.0, "{:.3g}", fontsize=LABEL_PT)
            strip_ticks(ax)
            ax.set_title(label, fontsize=LABEL_PT)
    ax = fig.add_subplot(middle[0, 0])
    idx = np.arange(1, len(fd.singular_values) + 1)
    ax.bar(idx, fd.singular_values / fd.singular_values[0], color=PALETTE[3], label=words["disk"])
    for name, colour, marker in (("sobel_x", PALETTE[0], "o"), ("gaussian_5x5", PALETTE[2], "s")):
        sv = data[name]["singular_values"]
        ax.plot(np.arange(1, len(sv) + 1), sv / sv[0], marker + "-", color=colour, label=name, ms=4)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel(words["index"], fontsize=LABEL_PT)
    ax.set_ylabel("s_r / s_1", fontsize=LABEL_PT)
    errs = ("; " if lang == "es" else ", ").join(decimals(f"{e:.2f}", lang) for e in fd.relative_errors[1:fd.rank + 1])
    ax.legend(fontsize=LABEL_PT, frameon=False, loc="upper right")
    ax.set_title(words["spectrum"].format(r=fd.rank, errs=errs), fontsize=LABEL_PT)
    # Bottom: the disk kernel, then an image filtered both ways and the difference.
    ax = fig.add_subplot(middle[0, 1])
    ax.imshow(disk, cmap="viridis")
    strip_ticks(ax)
    ax.set_title(words["nonsep"], fontsize=LABEL_PT)
    panels = [(image, words["photo"], "gray", None),
              (full, words["full"], "RdBu_r", np.abs(full).max()),
              (sep, words["sep"], "RdBu_r", np.abs(full).max()),
              (full - sep, words["diff"].format(d=decimals(f"{data['filtered']['max_abs_diff']:.1e}", lang)),
               "RdBu_r", None)]
    for i, (arr, title, cmap, v) in enumerate(panels):
        ax = fig.add_subplot(bottom[i // 2, i % 2])
        if v is None and cmap != "gray":
            v = max(float(np.abs(arr).max()), 1e-12)
        ax.imshow(arr, cmap=cmap, vmin=None if v is None else -v, vmax=v)
        strip_ticks(ax)
        ax.set_title(title, fontsize=LABEL_PT)
    fig.suptitle(words["title"], fontsize=TITLE_PT)
    paths = save_figure(fig, out_dir, stem_for("fig1_separable", lang), formats)
    return FigureResult(1, "separable", "Separable filters: outer products and the SVD", paths, data)
