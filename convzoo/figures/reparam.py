"""Figure 10: structural re-parameterization (RepVGG, Ding et al. 2021, arXiv:2101.03697, Fig. 4).

(a) one output channel of a real :class:`~convzoo.blocks.RepVggBlock` with random BN statistics:
its three BN-folded branch kernels (3x3, the 1x1 padded to 3x3, the identity) and their sum, which
is the fused conv's kernel after ``reparameterize()``; (b) parameters and MACs of RepVGG-A0 and
MobileOne-S0 trained (with branches) and fused, from ``convzoo.analysis.profile``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ._common import (LABEL_PT, PAGE_WIDTH_IN, TITLE_PT, DEFAULT_FORMATS, PALETTE, FigureResult, decimals,
                      new_figure, save_figure, stem_for, words_for)

CHANNELS = 4
CHANNEL = 1        # the output channel drawn (input channel CHANNEL too: where the identity sits)


def _block_kernels(seed: int) -> dict:
    from ..blocks import RepVggBlock
    from ..blocks.reparam import fuse_conv_bn, identity_kernel, pad_kernel

    torch.manual_seed(seed)
    block = RepVggBlock(CHANNELS, CHANNELS)
    with torch.no_grad():
        for bn in (block.conv_kxk.norm, block.conv_1x1.norm, block.identity):
            bn.running_mean.normal_(0, 0.3)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0, 0.3)
    block.eval()
    x = torch.randn(2, CHANNELS, 9, 9)
    with torch.no_grad():
        k3, _ = fuse_conv_bn(block.conv_kxk.conv.weight, block.conv_kxk.norm)
        k1, _ = fuse_conv_bn(block.conv_1x1.conv.weight, block.conv_1x1.norm)
        ki, _ = fuse_conv_bn(None, block.identity, identity=identity_kernel(CHANNELS, 1, (3, 3)))
        trained = block(x)
        block.reparameterize()
        fused = block(x)
    pick = (CHANNEL, CHANNEL)
    return {"3x3": k3[pick].numpy(), "1x1 padded": pad_kernel(k1, (3, 3))[pick].numpy(),
            "identity": ki[pick].numpy(), "fused": block.reparam_conv.weight[pick].detach().double().numpy(),
            "max_rel_diff": float((fused - trained).abs().max() / trained.abs().max())}


def _costs() -> dict:
    from ..analysis import profile
    from ..blocks import reparameterize_model
    from ..registry import create_model

    out = {}
    for name in ("repvgg_a0", "mobileone_s0"):
        with torch.device("meta"):
            model = create_model(name).eval()
        fused = reparameterize_model(model)
        out[name] = {form: (sum(p.numel() for p in m.parameters()), profile(m, (3, 224, 224)).macs)
                     for form, m in (("trained", model), ("fused", fused))}
    return out


# The figure's words in each page language (``lang``): the Spanish uses the lecture's terms.
LABELS = {
    "en": dict(panels={"3x3": "3x3", "1x1 padded": "1x1 padded", "identity": "identity", "fused": "fused"},
               fused_note="\n(one conv with bias)", folded_note="\n(BN folded)",
               forms={"trained": "trained", "fused": "fused"}, ylabel="GMACs at 224 px (labels: parameters)",
               saves="what fusing saves",
               title="Figure 10. Re-parameterization: three branches, one 3x3 conv (max relative output change {d})"),
    "es": dict(panels={"3x3": "3x3", "1x1 padded": "1x1 rellenada", "identity": "identidad", "fused": "fusionada"},
               fused_note="\n(una conv. con sesgo)", folded_note="\n(BN fundida)",
               forms={"trained": "entrenada", "fused": "fusionada"}, ylabel="GMACs a 224 px (etiquetas: parámetros)",
               saves="lo que ahorra fusionar",
               title="Figura 10. Reparametrización: tres ramas, una conv. 3x3 "
                     "(cambio relativo máximo de la salida {d})"),
}


def figure_reparam(out_dir: Path, *, formats=DEFAULT_FORMATS, fast: bool = False, run_dir=None,
                   seed: int = 0, lang: str = "en") -> FigureResult:
    """``lang="es"`` draws the Spanish labels into ``fig10_reparam.es.*`` (the Spanish site's copy)."""
    words = words_for(LABELS, lang)
    kernels = _block_kernels(seed)
    costs = _costs()
    fig = new_figure(PAGE_WIDTH_IN, 6.4)
    outer = fig.add_gridspec(2, 1, height_ratios=[1, 1.3])
    grid = outer[0].subgridspec(1, 4)
    panels = ["3x3", "1x1 padded", "identity", "fused"]
    vmax = max(float(np.abs(kernels[p]).max()) for p in panels)
    for i, name in enumerate(panels):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(kernels[name], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        for (r, c), v in np.ndenumerate(kernels[name]):
            ax.text(c, r, decimals(f"{v:.2f}", lang), ha="center", va="center", fontsize=LABEL_PT)
        ax.tick_params(length=0, labelbottom=False, labelleft=False)
        op = {"3x3": "", "1x1 padded": "+ ", "identity": "+ ", "fused": "= "}[name]
        ax.set_title(op + words["panels"][name] + (words["fused_note"] if name == "fused" else words["folded_note"]),
                     fontsize=LABEL_PT)
    ax = fig.add_subplot(outer[1])
    labels, width = list(costs), 0.35
    xs = np.arange(len(labels))
    for j, form in enumerate(("trained", "fused")):
        vals = [costs[n][form][1] / 1e9 for n in labels]
        bars = ax.bar(xs + (j - 0.5) * width, vals, width, color=PALETTE[j], label=words["forms"][form])
        for b, n in zip(bars, labels):
            ax.annotate(decimals(f"{costs[n][form][0] / 1e6:.1f}M", lang),
                        (b.get_x() + b.get_width() / 2, b.get_height()),
                        textcoords="offset points", xytext=(0, 2), ha="center", fontsize=LABEL_PT)
    ax.set_xticks(xs, labels)
    ax.set_ylabel(words["ylabel"])
    ax.yaxis.set_major_formatter(lambda v, _: decimals(f"{v:.1f}", lang))
    ax.set_ylim(0, 1.3 * max(costs[n]["trained"][1] / 1e9 for n in labels))    # room for the legend
    ax.legend(fontsize=LABEL_PT, frameon=False, loc="upper left")
    ax.set_title(words["saves"], fontsize=LABEL_PT)
    fig.suptitle(words["title"].format(d=f"{kernels['max_rel_diff']:.0e}"), fontsize=TITLE_PT)
    data = {"kernels": {k: kernels[k] for k in panels}, "max_rel_diff": kernels["max_rel_diff"],
            "costs": costs}
    paths = save_figure(fig, out_dir, stem_for("fig10_reparam", lang), formats)
    return FigureResult(10, "reparam", "Structural re-parameterization: RepVGG and MobileOne", paths, data)
