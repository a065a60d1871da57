"""Figure 5: the ConvNeXt block (Liu et al. 2022, arXiv:2201.03545, Fig. 4) beside a ResNet-50
bottleneck (He et al. 2016), at the first stage of each network (56x56), and the ConvNeXt V2 block
(Woo et al. 2023, arXiv:2301.00808, Fig. 5: GRN after the GELU, no layer scale).

Widths are traced from ``convzoo.layers.ConvNeXtBlock`` and torchvision's ``Bottleneck`` by running
them; norm and activation counts are counted calls; params and MACs come from ``convzoo.analysis``.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ._common import (PAGE_WIDTH_IN, TITLE_PT, DEFAULT_FORMATS, PALETTE, FigureResult, count_calls, cost, decimals,
                      draw_width_flow, human, new_figure, save_figure, stem_for, trace_widths, words_for)

CONVNEXT_C = 96            # ConvNeXt-T stage 1 (Sec. 3 table: C = (96, 192, 384, 768))
RESNET_IN, RESNET_MID = 256, 64   # ResNet-50 conv2_x
SIZE = 56
def _norms_acts() -> tuple:
    from ..layers import GlobalResponseNorm
    return (nn.LayerNorm, nn.BatchNorm2d, GlobalResponseNorm, nn.GELU, nn.ReLU)


# The figure's words in each page language (``lang``): the Spanish uses the lecture's terms.
LABELS = {
    "en": dict(bottleneck="ResNet-50 bottleneck (conv2_x)", block="ConvNeXt block (ConvNeXt-T stage 1)",
               v2="ConvNeXt V2 block (V2-T stage 1)", conv="conv, BN, ReLU", after="conv, BN, ReLU after +x",
               dw="depthwise, LayerNorm", scale="1x1 (Linear), x layer scale", no_scale="1x1 (Linear), no layer scale",
               cost="{title}\n{params} params, {macs} MACs at {size}x{size}; {norms} norm, {acts} activation",
               title="Figure 5. ConvNeXt inverts the bottleneck, moves the depthwise conv up, uses one norm and one "
                     "activation; V2 adds GRN on the wide layer"),
    "es": dict(bottleneck="cuello de botella de ResNet-50 (conv2_x)", block="bloque ConvNeXt (ConvNeXt-T, etapa 1)",
               v2="bloque ConvNeXt V2 (V2-T, etapa 1)", conv="conv., BN, ReLU", after="conv., BN, ReLU tras +x",
               dw="en profundidad, LayerNorm", scale="1x1 (Linear), x escala de capa",
               no_scale="1x1 (Linear), sin escala de capa",
               cost="{title}\n{params} parámetros, {macs} MACs a {size}x{size}; {norms} norm., {acts} activ.",
               title="Figura 5. ConvNeXt invierte el cuello de botella, sube la conv. en profundidad, usa una norm. y "
                     "una activación; V2 añade GRN en la capa ancha"),
}


def figure_convnext(out_dir: Path, *, formats=DEFAULT_FORMATS, fast: bool = False, run_dir=None,
                    seed: int = 0, lang: str = "en") -> FigureResult:
    """``lang="es"`` draws the Spanish labels into ``fig5_convnext.es.*`` (the Spanish site's copy)."""
    from torchvision.models.resnet import Bottleneck

    words = words_for(LABELS, lang)

    from ..blocks import ConvNeXtBlock

    torch.manual_seed(seed)
    blocks = {"convnext": (ConvNeXtBlock(CONVNEXT_C), torch.zeros(1, CONVNEXT_C, SIZE, SIZE)),
              "bottleneck": (Bottleneck(RESNET_IN, RESNET_MID), torch.zeros(1, RESNET_IN, SIZE, SIZE)),
              "convnextv2": (ConvNeXtBlock(CONVNEXT_C, layer_scale_init=0.0, grn=True),
                             torch.zeros(1, CONVNEXT_C, SIZE, SIZE))}
    layers = {k: trace_widths(m, x) for k, (m, x) in blocks.items()}
    widths = {k: [v[0].in_width] + [l.out_width for l in v] for k, v in layers.items()}
    calls = {k: count_calls(m, x, _norms_acts()) for k, (m, x) in blocks.items()}
    costs = {k: cost(m, tuple(x.shape[1:])) for k, (m, x) in blocks.items()}
    kernels = {k: [l.kernel for l in v] for k, v in layers.items()}

    fig = new_figure(PAGE_WIDTH_IN, 10.5)
    grid = fig.add_gridspec(3, 1)
    scale = max(max(w) for w in widths.values())
    ck, cb = layers["convnext"], layers["bottleneck"]
    k0 = "x".join(map(str, ck[0].kernel))
    k1 = "x".join(map(str, cb[1].kernel))
    panels = [
        ("bottleneck", PALETTE[0], words["bottleneck"],
         [f"1x1 {words['conv']}", f"{k1} {words['conv']}", f"1x1 {words['after']}"]),
        ("convnext", PALETTE[4], words["block"], [f"{k0} {words['dw']}", "1x1 (Linear), GELU", words["scale"]]),
        ("convnextv2", PALETTE[3], words["v2"], [f"{k0} {words['dw']}", "1x1 (Linear), GELU, GRN", words["no_scale"]]),
    ]
    for i, (key, color, title, ops) in enumerate(panels):
        ax = fig.add_subplot(grid[i, 0])
        c, n = costs[key], calls[key]
        norms = n["LayerNorm"] + n["BatchNorm2d"] + n["GlobalResponseNorm"]
        acts = n["GELU"] + n["ReLU"]
        draw_width_flow(ax, widths[key], ops, scale=scale, color=color, residual=True,
                        title=words["cost"].format(title=title, params=decimals(human(c["params"]), lang),
                                                   macs=decimals(human(c["macs"]), lang), size=SIZE, norms=norms,
                                                   acts=acts))
    fig.suptitle(words["title"], fontsize=TITLE_PT)
    data = {"widths": widths, "calls": calls, "costs": costs, "kernels": kernels}
    paths = save_figure(fig, out_dir, stem_for("fig5_convnext", lang), formats)
    return FigureResult(5, "convnext", "ConvNeXt block beside a ResNet bottleneck", paths, data)
