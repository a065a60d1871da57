"""Figure 3: the inverted residual (MobileNetV2, Sandler et al. 2018, arXiv:1801.04381, Table 1,
t = 6) beside the classic ResNet bottleneck (He et al. 2016), and MBConv beside Fused-MBConv
(EfficientNetV2, Tan & Le 2021, arXiv:2104.00298, Fig. 2) and MobileNetV4's universal inverted
bottleneck in its ExtraDW form (Qin et al. 2024, arXiv:2404.10518, Fig. 4: a depthwise conv on each side).

Widths are traced from the real modules (``convzoo.blocks.MBConv`` / ``FusedMBConv`` / ``UniversalInvertedResidual`` and
torchvision's ``Bottleneck``) by running them; params and MACs come from ``convzoo.analysis``.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ._common import (LABEL_PT, PAGE_WIDTH_IN, TITLE_PT, DEFAULT_FORMATS, PALETTE, FigureResult, cost, decimals,
                      draw_width_flow, human, new_figure, save_figure, stem_for, trace_widths, words_for)

# The block drawn: MobileNetV2's 56x56 stage (Table 2, row "56^2 x 24, bottleneck, t=6, c=32"):
# k = 24 channels in and out, expansion t = 6 -> 144 hidden channels.
K_IN, T_EXPAND, SIZE = 24, 6, 56
# The classic bottleneck of ResNet-50's conv2_x: 256 -> 64 -> 64 -> 256 at 56x56.
RESNET_IN, RESNET_MID = 256, 64


# The figure's words in each page language (``lang``): the Spanish uses the lecture's terms.
LABELS = {
    "en": dict(linear="linear", after="ReLU after +x", bottleneck="ResNet bottleneck\n(wide-narrow-wide)",
               mbconv="Inverted residual, t={t}\n(narrow-wide-narrow)",
               fused="Fused-MBConv, t={t}\n(one dense 3x3 conv)",
               uib="UIB ExtraDW (MobileNetV4), t={t}\n(dw on both sides)",
               cost="{title}\n{params} params, {macs} MACs\nat {size}x{size}", hidden="hidden (t x in)",
               output="block output", xlabel="bottleneck block of mobilenet_v2", ylabel="channels",
               network="MobileNetV2: every block expands, then projects back",
               title="Figure 3. Channel width through the block (bar length = channels)"),
    "es": dict(linear="lineal", after="ReLU tras +x", bottleneck="cuello de botella de ResNet\n(ancho-estrecho-ancho)",
               mbconv="Residual invertido, t={t}\n(estrecho-ancho-estrecho)",
               fused="Fused-MBConv, t={t}\n(una conv. 3x3 densa)",
               uib="UIB ExtraDW (MobileNetV4), t={t}\n(dw a ambos lados)",
               cost="{title}\n{params} parámetros, {macs} MACs\na {size}x{size}", hidden="oculta (t x entrada)",
               output="salida del bloque", xlabel="bloque de cuello de botella de mobilenet_v2", ylabel="canales",
               network="MobileNetV2: cada bloque expande\ny luego vuelve a proyectar",
               title="Figura 3. La anchura de canales a lo largo del bloque (longitud de la barra = canales)"),
}


def _op_label(layer, act: str, linear: str = "linear") -> str:
    k = "x".join(str(v) for v in layer.kernel)
    what = {"depthwise": "dwise", "pointwise": "conv", "conv": "conv", "linear": linear}[layer.kind]
    return f"{k} {what}, {act}" if act else f"{k} {what}, {linear}"


def _mobilenet_v2_hidden_widths() -> list[dict]:
    """Per bottleneck of the registered mobilenet_v2: input, hidden (expanded) and output widths."""
    import convzoo
    from ..blocks import MBConv

    model = convzoo.create_model("mobilenet_v2").eval()
    blocks = [m for m in model.modules() if isinstance(m, MBConv)]
    rows = []
    if not blocks:  # a family built from other block classes: fall back to tracing its depthwise convs
        return rows
    x = torch.zeros(1, 3, 64, 64)
    for b in blocks:
        b._traced = []
    hooks = [b.register_forward_hook(lambda m, i, o: m._traced.append((i[0].shape[1], o.shape[1])))
             for b in blocks]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    for b in blocks:
        cin, cout = b._traced[0]
        del b._traced
        rows.append({"in": int(cin), "hidden": int(b.dw.out_channels), "out": int(cout)})
    return rows


def figure_inverted_residual(out_dir: Path, *, formats=DEFAULT_FORMATS, fast: bool = False, run_dir=None,
                             seed: int = 0, lang: str = "en") -> FigureResult:
    """``lang="es"`` draws the Spanish labels into ``fig3_inverted_residual.es.*`` (the Spanish site's copy)."""
    from torchvision.models.resnet import Bottleneck

    words = words_for(LABELS, lang)

    from ..blocks import FusedMBConv, MBConv, UniversalInvertedResidual

    torch.manual_seed(seed)
    x_small = torch.zeros(1, K_IN, SIZE, SIZE)
    mb = MBConv(K_IN, K_IN, expand_ratio=T_EXPAND, kernel_size=3, stride=1, act_layer=nn.ReLU6)
    fused = FusedMBConv(K_IN, K_IN, expand_ratio=T_EXPAND, kernel_size=3, stride=1, act_layer=nn.ReLU6)
    uib = UniversalInvertedResidual(K_IN, K_IN, start_kernel=3, mid_kernel=3, expand_ratio=T_EXPAND,
                                    act_layer=nn.ReLU6)
    resnet = Bottleneck(RESNET_IN, RESNET_MID)

    layers = {"bottleneck": trace_widths(resnet, torch.zeros(1, RESNET_IN, SIZE, SIZE)),
              "mbconv": trace_widths(mb, x_small), "fused_mbconv": trace_widths(fused, x_small),
              "uib_extradw": trace_widths(uib, x_small)}
    widths = {k: [v[0].in_width] + [l.out_width for l in v] for k, v in layers.items()}
    costs = {"bottleneck": cost(resnet, (RESNET_IN, SIZE, SIZE)),
             "mbconv": cost(mb, (K_IN, SIZE, SIZE)), "fused_mbconv": cost(fused, (K_IN, SIZE, SIZE)),
             "uib_extradw": cost(uib, (K_IN, SIZE, SIZE))}
    network = _mobilenet_v2_hidden_widths()

    fig = new_figure(PAGE_WIDTH_IN, 13.0 if network else 9.0)
    grid = fig.add_gridspec(3 if network else 2, 2, height_ratios=[1, 1, 0.8][: 3 if network else 2])
    scale = max(max(w) for w in widths.values()) * 1.0
    specs = [("bottleneck", words["bottleneck"], PALETTE[0], ["ReLU", "ReLU", words["after"]]),
             ("mbconv", words["mbconv"].format(t=T_EXPAND), PALETTE[1], ["ReLU6", "ReLU6", ""]),
             ("fused_mbconv", words["fused"].format(t=T_EXPAND), PALETTE[2], ["ReLU6", ""]),
             ("uib_extradw", words["uib"].format(t=T_EXPAND), PALETTE[3], ["", "ReLU6", "ReLU6", ""])]
    for i, (key, title, color, acts) in enumerate(specs):
        ax = fig.add_subplot(grid[i // 2, i % 2])
        ops = [_op_label(l, a, words["linear"]) for l, a in zip(layers[key], acts)]
        c = costs[key]
        draw_width_flow(ax, widths[key], ops, scale=scale, color=color, residual=True,
                        title=words["cost"].format(title=title, params=decimals(human(c["params"]), lang),
                                                   macs=decimals(human(c["macs"]), lang), size=SIZE))
    if network:
        ax = fig.add_subplot(grid[2, :])
        idx = range(1, len(network) + 1)
        ax.bar(idx, [r["hidden"] for r in network], color=PALETTE[1], alpha=0.5, label=words["hidden"])
        ax.bar(idx, [r["out"] for r in network], color=PALETTE[1], label=words["output"])
        ax.set_xlabel(words["xlabel"])
        ax.set_xticks(list(idx)[::2])
        ax.set_ylabel(words["ylabel"])
        ax.set_title(words["network"], fontsize=LABEL_PT)
        ax.legend(fontsize=LABEL_PT, frameon=False)
    fig.suptitle(words["title"], fontsize=TITLE_PT)

    data = {"widths": widths, "costs": costs, "mobilenet_v2_blocks": network,
            "layers": {k: [(l.name, l.kind, l.in_width, l.out_width, l.kernel) for l in v]
                       for k, v in layers.items()}}
    paths = save_figure(fig, out_dir, stem_for("fig3_inverted_residual", lang), formats)
    return FigureResult(3, "inverted_residual", "Inverted residual vs classic bottleneck", paths, data)
