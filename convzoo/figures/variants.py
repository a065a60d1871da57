"""Figure 2: standard vs spatially separable vs depthwise vs pointwise vs depthwise-separable conv.

Top: which input channel feeds which output channel, per variant, read from the real layers'
weights (``groups`` and kernel shapes) for a toy M = 3 -> N = 4 layer; colours are mixed along the
edges, so depthwise outputs keep their input's colour and mixing convs blend them.
Bottom: params and MACs of the *same* layer in each variant -- MobileNetV1 Table 3's layer,
k = 3, M = N = 512 at 14x14 (Howard et al. 2017, arXiv:1704.04861) -- from ``convzoo.analysis``.
"""
from __future__ import annotations

import textwrap

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..models.variants import LAYER_NAMES
from ._common import (LABEL_PT, PAGE_WIDTH_IN, TITLE_PT, DEFAULT_FORMATS, PALETTE, FigureResult, cost, decimals,
                      human, new_figure, save_figure, stem_for, words_for)

TOY_M, TOY_N, K = 3, 4, 3
TABLE3 = dict(k=3, m=512, n=512, size=14)      # MobileNetV1 Table 3
# the layers that are also compare variants are named in the variants' one table (models/variants.py)
STANDARD, SPATIAL, DWSEP = LAYER_NAMES["conv"], LAYER_NAMES["spatial"], LAYER_NAMES["dwsep"]
VARIANTS = (STANDARD, SPATIAL, "depthwise", "pointwise", DWSEP)
TITLES = {STANDARD: "standard k x k", SPATIAL: "spatially separable\nk x 1, then 1 x k (rank N)",
          "depthwise": "depthwise\n(groups = M)", "pointwise": "pointwise 1 x 1",
          DWSEP: "depthwise-separable\ndw k x k, then pw 1 x 1"}
# The figure's words in each page language (``lang``): the Spanish uses the lecture's terms.
LABELS = {
    "en": dict(titles=TITLES, params="params",
               layer="one layer, k={k}, M=N={m}, {size}x{size} (MobileNetV1 Table 3), from convzoo.analysis.profile; "
                     "depthwise-separable / standard = 1/N + 1/k^2 = {ratio}",
               title="Figure 2. Who talks to whom: channel connections per variant, and what each costs"),
    "es": dict(titles={STANDARD: "estándar k x k", SPATIAL: "espacialmente separable\nk x 1, luego 1 x k (rango N)",
                       "depthwise": "en profundidad\n(groups = M)", "pointwise": "puntual 1 x 1",
                       DWSEP: "separable en profundidad\ndw k x k, luego pw 1 x 1"},
               params="parámetros",
               layer="una capa, k={k}, M=N={m}, {size}x{size} (Tabla 3 de MobileNetV1), con convzoo.analysis.profile; "
                     "separable en profundidad / estándar = 1/N + 1/k^2 = {ratio}",
               title="Figura 2. Quién habla con quién: las conexiones entre canales de cada variante, y lo que cuesta"),
}
INPUT_COLOURS = np.array([[0.85, 0.2, 0.2], [0.2, 0.65, 0.25], [0.2, 0.35, 0.85]])


def build_variant(name: str, m: int, n: int, k: int) -> nn.Module:
    """The convzoo layer for ``name`` mapping m -> n channels (depthwise keeps m), no norm/act."""
    from .. import layers as L

    if name == STANDARD:
        return L.make_conv(m, n, k, 1, "same", 1, 1, False, 2)
    if name == SPATIAL:
        # k x 1 (m -> n) then 1 x k (n -> n): Inception-v3's n x 1 / 1 x n factorisation at full width
        # (rank = n intermediate channels), the usual way the layer is used in a network.
        return L.SpatiallySeparableConv(m, n, k, rank=n, bias=False)
    if name == "depthwise":
        return L.DepthwiseConv(m, k, bias=False)
    if name == "pointwise":
        return L.PointwiseConv(m, n, bias=False)
    if name == DWSEP:
        return L.DepthwiseSeparableConv(m, n, k, norm=None, act_layer=None, bias=False)
    raise ValueError(f"variant must be one of {VARIANTS}; got {name!r}")


def connectivity(module: nn.Module, m: int, size: int = 8) -> list[dict]:
    """The conv stages of ``module`` in call order, each with its (out, in) connection mask taken
    from the weight's group structure."""
    stages = []

    def hook(mod, inp, out):
        cin, cout, g = mod.in_channels, mod.out_channels, mod.groups
        mask = np.zeros((cout, cin), dtype=bool)
        for o in range(cout):
            grp = o // (cout // g)
            mask[o, grp * (cin // g):(grp + 1) * (cin // g)] = True
        stages.append({"kernel": tuple(mod.kernel_size), "groups": g, "in": cin, "out": cout, "mask": mask})

    hooks = [c.register_forward_hook(hook) for c in module.modules() if isinstance(c, nn.Conv2d)]
    with torch.no_grad():
        module(torch.zeros(1, m, size, size))
    for h in hooks:
        h.remove()
    return stages


def _draw_graph(ax, stages: list[dict], title: str) -> None:
    cols = [INPUT_COLOURS[: stages[0]["in"]]]
    for st in stages:
        w = st["mask"].astype(float)
        cols.append((w / w.sum(1, keepdims=True)) @ cols[-1])   # each output mixes its inputs' colours
    xs = np.linspace(0, 1, len(cols))
    ys = [np.linspace(0.9, 0.1, len(c)) if len(c) > 1 else np.array([0.5]) for c in cols]
    for s, st in enumerate(stages):
        for o, i in zip(*np.nonzero(st["mask"])):
            ax.plot([xs[s], xs[s + 1]], [ys[s][i], ys[s + 1][o]], color=cols[s][i], lw=1.1, alpha=0.7)
        ax.text((xs[s] + xs[s + 1]) / 2, 0.0, "x".join(map(str, st["kernel"]))
                + (f"\ng={st['groups']}" if st["groups"] > 1 else ""), ha="center", va="top", fontsize=LABEL_PT)
    for x, y, c in zip(xs, ys, cols):
        ax.scatter(np.full(len(y), x), y, s=140, c=np.clip(c, 0, 1), edgecolors="0.2", zorder=3)
    ax.set_xlim(-0.12, 1.12)
    ax.set_ylim(-0.2, 1.02)
    ax.set_title(title, fontsize=LABEL_PT)
    ax.axis("off")


def figure_variants(out_dir: Path, *, formats=DEFAULT_FORMATS, fast: bool = False, run_dir=None,
                    seed: int = 0, lang: str = "en") -> FigureResult:
    """``lang="es"`` draws the Spanish labels into ``fig2_variants.es.*`` (the Spanish site's copy)."""
    from ..analysis import separable_cost_ratio

    words = words_for(LABELS, lang)
    titles = words["titles"]

    torch.manual_seed(seed)
    graphs = {v: connectivity(build_variant(v, TOY_M, TOY_N, K), TOY_M) for v in VARIANTS}
    k, m, n, size = TABLE3["k"], TABLE3["m"], TABLE3["n"], TABLE3["size"]
    costs = {v: cost(build_variant(v, m, n, k), (m, size, size)) for v in VARIANTS}
    ratio = separable_cost_ratio(k, n)

    fig = new_figure(PAGE_WIDTH_IN, 10.0)
    outer = fig.add_gridspec(3, 1, height_ratios=[1.0, 1.0, 1.3])
    rows = (outer[0].subgridspec(1, 3), outer[1].subgridspec(1, 3))
    for i, v in enumerate(VARIANTS):
        _draw_graph(fig.add_subplot(rows[i // 3][0, i % 3]), graphs[v], titles[v])
    ax = fig.add_subplot(outer[2])
    x = np.arange(len(VARIANTS))
    for off, key, colour in ((-0.2, "macs", PALETTE[0]), (0.2, "params", PALETTE[1])):
        vals = [costs[v][key] for v in VARIANTS]
        ax.bar(x + off, vals, width=0.38, color=colour, label=words["params"] if key == "params" else "MACs")
        for xi, val in zip(x + off, vals):
            ax.text(xi, val * 1.15, decimals(human(val), lang), ha="center", fontsize=LABEL_PT)
    ax.set_yscale("log")
    ax.set_ylim(1e3, 2e9)
    ax.set_xticks(x, [textwrap.fill(titles[v].split("\n")[0], 11) for v in VARIANTS], fontsize=LABEL_PT)
    ax.legend(frameon=False, fontsize=LABEL_PT, loc="upper right")
    ax.set_title(words["layer"].format(k=k, m=m, size=size, ratio=decimals(f"{ratio:.3f}", lang)), fontsize=LABEL_PT)
    fig.suptitle(words["title"], fontsize=TITLE_PT)

    data = {"variants": list(VARIANTS), "costs": costs, "cost_ratio": ratio, "layer": dict(TABLE3),
            "graphs": {v: [{kk: (vv.tolist() if isinstance(vv, np.ndarray) else vv) for kk, vv in st.items()}
                           for st in g] for v, g in graphs.items()}}
    paths = save_figure(fig, out_dir, stem_for("fig2_variants", lang), formats)
    return FigureResult(2, "variants", "Standard, spatially separable, depthwise, pointwise, depthwise-separable",
                        paths, data)
