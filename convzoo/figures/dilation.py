"""Figure 6: dilated convolution (Yu & Koltun 2016, arXiv:1511.07122).

(a) the input positions a 3x3 kernel samples at dilation 1, 2 and 4, found by back-propagating from
one output of a real ``convzoo`` conv (the nonzero input gradient is exactly what it reads);
(b) the receptive field of the stacked 1-, 2-, 4-dilated convs of their Fig. 1 (3 -> 7 -> 15), again
measured by gradient; (c) the receptive-field growth of their context module (Table 1) from
``convzoo.analysis.receptive_field`` beside an undilated stack of the same depth.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ._common import LABEL_PT, PAGE_WIDTH_IN, TITLE_PT, DEFAULT_FORMATS, PALETTE, FigureResult, new_figure, save_figure

DILATIONS = (1, 2, 4)
GRID = 19   # odd, larger than the 15x15 field of the 1-2-4 stack
# Yu & Koltun, Table 1: the context module's 3x3 layers dilated 1, 1, 2, 4, 8, 16, 1, then a 1x1.
CONTEXT_MODULE = [(3, 1, 1), (3, 1, 1), (3, 1, 2), (3, 1, 4), (3, 1, 8), (3, 1, 16), (3, 1, 1), (1, 1, 1)]


def _input_gradient(stack: nn.Module, size: int) -> np.ndarray:
    """|d out[center] / d input| for a single-channel stack: where (and how often) it reads."""
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    y = stack(x)
    c = size // 2
    y[0, 0, c, c].backward()
    return x.grad[0, 0].abs().numpy()


def _conv(dilation: int) -> nn.Module:
    from ..layers import make_conv

    conv = make_conv(1, 1, 3, 1, "same", dilation, 1, False, 2)
    with torch.no_grad():
        conv.weight.fill_(1.0)     # every tap counts once, so the gradient counts paths
    return conv


def _extent(mask: np.ndarray) -> int:
    rows = np.flatnonzero(mask.any(axis=1))
    return int(rows[-1] - rows[0] + 1)


# The figure's words in each page language (``lang``): the Spanish uses the lecture's terms.
LABELS = {
    "en": dict(tap="3x3, dilation {d}\nreads a {s}x{s} span", stack="stacked 1, 2, 4-dilated\nRF ",
               paths="\n(shade = number of paths)", context="context module (dilated)",
               plain="same layers, no dilation", xlabel="layer of Yu & Koltun's context module",
               ylabel="receptive field (pixels)", rf="receptive_field(): exponential growth, linear params",
               title="Figure 6. Dilated convolution: same 9 weights, wider view"),
    "es": dict(tap="3x3, dilatación {d}\nlee un área de {s}x{s}", stack="apiladas con dilatación 1, 2, 4\nCR ",
               paths="\n(tono = número de caminos)", context="módulo de contexto (dilatado)",
               plain="mismas capas, sin dilatación", xlabel="capa del módulo de contexto de Yu y Koltun",
               ylabel="campo receptivo (píxeles)",
               rf="receptive_field(): crecimiento exponencial,\nparámetros lineales",
               title="Figura 6. Convolución dilatada: los mismos 9 pesos, una vista más amplia"),
}


def figure_dilation(out_dir: Path, *, formats=DEFAULT_FORMATS, fast: bool = False, run_dir=None,
                    seed: int = 0, lang: str = "en") -> FigureResult:
    """``lang="es"`` draws the Spanish labels into ``fig6_dilation.es.*`` (the Spanish site's copy)."""
    from ..analysis import receptive_field

    if lang not in LABELS:
        raise ValueError(f"lang must be one of {sorted(LABELS)}, got {lang!r}")
    words = LABELS[lang]

    c = GRID // 2
    taps = {}
    for d in DILATIONS:
        g = _input_gradient(_conv(d), GRID)
        taps[d] = sorted((int(i - c), int(j - c)) for i, j in zip(*np.nonzero(g)))
    stack = nn.Sequential(*[_conv(d) for d in DILATIONS])
    stack_grad = _input_gradient(stack, GRID)
    stack_measured = [_extent(_input_gradient(nn.Sequential(*list(stack)[: i + 1]), GRID) > 0)
                      for i in range(len(DILATIONS))]
    stack_rf = [l.receptive_field for l in receptive_field([(3, 1, d) for d in DILATIONS])]
    context_rf = [l.receptive_field for l in receptive_field(CONTEXT_MODULE)]
    plain_rf = [l.receptive_field for l in receptive_field([(k, 1, 1) for k, _, _ in CONTEXT_MODULE])]

    fig = new_figure(PAGE_WIDTH_IN, 7.6)
    outer = fig.add_gridspec(2, 1, height_ratios=[1, 1.45])
    top = outer[0].subgridspec(1, 3)
    grid = outer[1].subgridspec(1, 2, width_ratios=[1, 1.25])
    for i, d in enumerate(DILATIONS):
        ax = fig.add_subplot(top[0, i])
        img = np.zeros((GRID, GRID))
        for di, dj in taps[d]:
            img[c + di, c + dj] = 1
        ax.imshow(img, cmap="Blues", vmin=0, vmax=1.2)
        ax.set_xticks(np.arange(-0.5, GRID, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, GRID, 1), minor=True)
        ax.grid(which="minor", color="0.85", lw=0.4)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        span = 2 * d + 1
        ax.set_title(words["tap"].format(d=d, s=span), fontsize=LABEL_PT)
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(np.ma.masked_equal(stack_grad, 0), cmap="viridis_r")   # unread pixels stay white
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_title(words["stack"] + " -> ".join(str(v) for v in stack_measured) + words["paths"], fontsize=LABEL_PT)
    ax = fig.add_subplot(grid[0, 1])
    layers = np.arange(1, len(CONTEXT_MODULE) + 1)
    ax.plot(layers, context_rf, "o-", color=PALETTE[3], label=words["context"])
    ax.plot(layers, plain_rf, "s--", color=PALETTE[0], label=words["plain"])
    for x, v in zip(layers, context_rf):
        ax.annotate(str(v), (x, v), textcoords="offset points", xytext=(-4, 6), fontsize=LABEL_PT, ha="right")
    ax.set_xlabel(words["xlabel"])
    ax.set_ylabel(words["ylabel"])
    ax.set_xticks(layers)
    ax.set_ylim(0, 1.3 * max(context_rf))            # the legend sits above the curves
    ax.legend(fontsize=LABEL_PT, frameon=False, loc="upper left")
    ax.set_title(words["rf"], fontsize=LABEL_PT)
    fig.suptitle(words["title"], fontsize=TITLE_PT)

    data = {"taps": taps, "stack_dilations": list(DILATIONS), "stack_rf_measured": stack_measured,
            "stack_rf": stack_rf, "context_module": CONTEXT_MODULE, "context_module_rf": context_rf,
            "plain_rf": plain_rf}
    paths = save_figure(fig, out_dir, "fig6_dilation" + ("" if lang == "en" else f".{lang}"), formats)
    return FigureResult(6, "dilation", "Dilated convolution and receptive-field growth", paths, data)
