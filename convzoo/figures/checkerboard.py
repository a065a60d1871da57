"""Checkerboard artifacts: a stride-2 transposed conv against resize-convolution on the same input.

Odena, Dumoulin & Olah 2016, "Deconvolution and Checkerboard Artifacts" (Distill,
doi:10.23915/distill.00003): a transposed conv with kernel k and stride s gives some output pixels
more kernel taps than others unless s divides k ("uneven overlap"); on a flat input its output is a
checkerboard. Resizing first (nearest neighbour 2x) and then convolving gives every output pixel the
same taps, so a flat input stays flat. Top row: all-ones kernels, where the output counts the taps
(k=3: 4/2/2/1 per 2x2 cell). Bottom row: the same ops with random weights (as a network starts),
the layers of convzoo's U-Net decoder (:class:`~convzoo.models.segmentation.Upsample2x`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ._common import (LABEL_PT, PAGE_WIDTH_IN, STYLE, TITLE_PT, matplotlib, DEFAULT_FORMATS, FigureResult,
                      new_figure, save_figure)

SIZE = 12
TITLE = "Checkerboard artifacts: stride-2 transposed conv vs resize-conv"


def _ops(weights: str, seed: int):
    """name -> function of a (1, 1, H, W) input giving the 2x map, built from convzoo's layers."""
    from ..layers.transposed import ConvTranspose
    g = torch.Generator().manual_seed(seed)
    t3 = ConvTranspose(1, 1, 3, 2, padding=1, output_padding=1, bias=False)   # k=3, s=2: uneven overlap
    t2 = ConvTranspose(1, 1, 2, 2, bias=False)                                # k=2, s=2: no overlap
    rc = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)                      # after a nearest 2x resize
    for conv in (t3.conv, t2.conv, rc):
        w = torch.ones_like(conv.weight) if weights == "ones" else \
            torch.rand(conv.weight.shape, generator=g) + 0.5     # positive, so the mean stays visible
        conv.weight.data.copy_(w / w.sum() * 4 if weights != "ones" else w)
    return {"transposed 3x3, stride 2": t3,
            "transposed 2x2, stride 2": t2,
            "resize 2x + conv 3x3": lambda x: rc(F.interpolate(x, scale_factor=2.0, mode="nearest"))}


def checkerboard_outputs(seed: int = 0, size: int = SIZE) -> dict[str, dict[str, np.ndarray]]:
    """{"ones" | "random": {op name: 2x output of a flat size x size input}} (float64 arrays)."""
    x = torch.ones(1, 1, size, size)
    out = {}
    with torch.no_grad():
        for weights in ("ones", "random"):
            out[weights] = {k: f(x)[0, 0].double().numpy() for k, f in _ops(weights, seed).items()}
    return out


def interior_spread(y: np.ndarray, border: int = 2) -> float:
    """max - min of the output away from the border, relative to its mean: 0 for a flat map."""
    core = y[border:-border, border:-border]
    return float((core.max() - core.min()) / abs(core.mean()))


def figure_checkerboard(out_dir: Path, *, formats=DEFAULT_FORMATS, fast: bool = False, run_dir=None,
                        seed: int = 0) -> FigureResult:
    outs = checkerboard_outputs(seed)
    with matplotlib.rc_context(STYLE):
        return _draw(outs, out_dir, formats)


def _draw(outs, out_dir, formats) -> FigureResult:
    fig = new_figure(PAGE_WIDTH_IN, 6.4)
    axes = fig.subplots(2, 3)
    spreads: dict[str, dict[str, float]] = {}
    for r, (weights, row) in enumerate(outs.items()):
        spreads[weights] = {}
        for c, (name, y) in enumerate(row.items()):
            ax = axes[r, c]
            ax.imshow(y, cmap="magma", interpolation="nearest", vmin=0, vmax=y.max())
            spreads[weights][name] = interior_spread(y)
            ax.set_title(f"{name}\n{'all-ones' if weights == 'ones' else 'random'} kernel: "
                         f"interior spread {spreads[weights][name]:.2f}", fontsize=LABEL_PT)
            ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"{TITLE} (flat {SIZE}x{SIZE} input -> {2 * SIZE}x{2 * SIZE})", fontsize=TITLE_PT)
    paths = save_figure(fig, out_dir, "checkerboard", formats)
    return FigureResult(10, "checkerboard", TITLE, paths,
                        data={"outputs": outs, "interior_spread": spreads})
