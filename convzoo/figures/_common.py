"""Shared plumbing for the figures: the result record, helpers for drawing, and a tracer that reads
channel widths off a real module by running it (so drawn widths are measured, not typed). The page's
size, the house style and saving are :mod:`convzoo.plotting`'s (every convzoo picture is saved there),
re-exported here for the figures.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from torch import nn

from ..plotting import (DEFAULT_FORMATS, FONT_KEY, LABEL_PT, PAGE_WIDTH_IN, PALETTE, PNG_DPI,  # noqa: F401
                        STYLE, TITLE_PT, check_formats, matplotlib, new_figure, recorded_font_px,
                        save_figure, smallest_font_pt, wrap_titles)


@dataclass
class FigureResult:
    """What a figure function made: the files written and the numbers it drew.

    ``data`` holds every number shown in the picture (as Python/NumPy values), so tests can check
    them against independent oracles instead of trusting the pixels.
    """

    number: int
    slug: str
    title: str
    paths: list[Path] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def annotate_matrix(ax, values, fmt: str = "{:g}", fontsize: float = LABEL_PT, color_threshold=None) -> None:
    """Write each entry of a 2-D array on its heat-map cell."""
    import numpy as np

    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[None]
    thr = color_threshold if color_threshold is not None else (np.nanmax(np.abs(arr)) * 0.6 if arr.size else 0)
    for (i, j), v in np.ndenumerate(arr):
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=fontsize,
                color="white" if abs(v) > thr and thr > 0 else "black")


def strip_ticks(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


@dataclass(frozen=True)
class TracedLayer:
    """One weight layer met while running a module: its name, kind and the width it produced."""

    name: str
    kind: str
    in_width: int
    out_width: int
    kernel: tuple[int, ...]
    groups: int


def trace_widths(module: nn.Module, x) -> list[TracedLayer]:
    """Run ``module(x)`` and record, in call order, each conv/linear layer's input and output width.

    Widths are read from the tensors that actually flow (dim 1 for convs, the last dim for
    ``nn.Linear`` on channels-last data), so a figure shows what the code computes.
    """
    import torch

    rows: list[TracedLayer] = []
    hooks = []
    for name, m in module.named_modules():
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            def hook(mod, inp, out, name=name):
                if isinstance(mod, nn.Linear):
                    rows.append(TracedLayer(name, "linear", inp[0].shape[-1], out.shape[-1], (1,), 1))
                else:
                    kind = "depthwise" if mod.groups == mod.in_channels and mod.groups > 1 else (
                        "pointwise" if all(k == 1 for k in mod.kernel_size) else "conv")
                    rows.append(TracedLayer(name, kind, inp[0].shape[1], out.shape[1],
                                            tuple(mod.kernel_size), mod.groups))
            hooks.append(m.register_forward_hook(hook))
    try:
        was_training = module.training
        module.eval()
        with torch.no_grad():
            module(x)
        module.train(was_training)
    finally:
        for h in hooks:
            h.remove()
    return rows


def draw_width_flow(ax, widths: Sequence[int], ops: Sequence[str], *, scale: float, color: str,
                    title: str = "", residual: bool = False) -> None:
    """Draw tensors as centred bars whose length is their channel count, top to bottom, with the op
    that maps each to the next written between them (a picture of "narrow-wide-narrow")."""
    from matplotlib.patches import FancyArrowPatch, Rectangle

    n = len(widths)
    gap = 1.0
    for i, w in enumerate(widths):
        y = -i * gap
        half = 0.5 * w / scale
        ax.add_patch(Rectangle((-half, y - 0.16), 2 * half, 0.32, color=color, alpha=0.85))
        ax.text(half + 0.03, y, f"{w}", va="center", ha="left", fontsize=LABEL_PT)
        if i < n - 1:
            ax.annotate("", xy=(0, y - gap + 0.18), xytext=(0, y - 0.18),
                        arrowprops=dict(arrowstyle="->", color="0.3", lw=1))
            ax.text(-0.04, y - gap / 2, ops[i], va="center", ha="right", fontsize=LABEL_PT, color="0.15")
    if residual:
        ax.add_patch(FancyArrowPatch((0.86, 0), (0.86, -(n - 1) * gap), connectionstyle="arc3,rad=-0.3",
                                     arrowstyle="->", mutation_scale=10, color="0.45", lw=1, ls="--"))
        ax.text(1.02, -(n - 1) * gap / 2, "+ x", fontsize=LABEL_PT, color="0.35", va="center")
    ax.set_xlim(-1.05, 1.25)
    ax.set_ylim(-(n - 1) * gap - 0.5, 0.5)
    ax.set_title(title, fontsize=LABEL_PT)
    ax.axis("off")


def cost(model: nn.Module, input_size: Sequence[int]) -> dict[str, int]:
    """Params and MACs of ``model`` for one input of ``input_size`` (C, *S), from convzoo.analysis."""
    from ..analysis import profile

    prof = profile(model, tuple(input_size))
    return {"params": int(prof.params), "macs": int(prof.macs)}


def words_for(labels: dict, lang: str) -> dict:
    """A figure's words in ``lang`` from its ``LABELS`` table (``{"en": {...}, "es": {...}}``)."""
    if lang not in labels:
        raise ValueError(f"lang must be one of {sorted(labels)}, got {lang!r}")
    return labels[lang]


def decimals(text: str, lang: str) -> str:
    """Numbers written the page language's way: a decimal comma in Spanish (0.113 -> 0,113, 2.36M -> 2,36M)."""
    return re.sub(r"(?<=\d)\.(?=\d)", ",", text) if lang == "es" else text


def decimal_ticks(lang: str, *axes) -> None:
    """Tick labels of linear ``axes`` (matplotlib Axis objects) with the page language's decimal mark; English
    keeps matplotlib's own formatter (its output unchanged)."""
    if lang == "en":
        return
    from matplotlib.ticker import ScalarFormatter

    class _Localized(ScalarFormatter):
        def __call__(self, x, pos=None):
            return decimals(super().__call__(x, pos), lang)

    for axis in axes:
        axis.set_major_formatter(_Localized())


def stem_for(stem: str, lang: str) -> str:
    """``fig1_separable`` in English; ``fig1_separable.es`` for the Spanish site's copy (mkdocs-static-i18n)."""
    return stem if lang == "en" else f"{stem}.{lang}"


def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23M' (for labels only; the data keep exact integers)."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.3g}{suffix}{unit}"
    return f"{n:g}{unit}"


def count_calls(module: nn.Module, x, kinds: tuple[type, ...]) -> dict[str, int]:
    """How many times modules of each type in ``kinds`` run in one forward pass (a module applied
    three times, like torchvision's shared ``relu``, counts three)."""
    import torch

    counts = {k.__name__: 0 for k in kinds}
    hooks = []
    for m in module.modules():
        for k in kinds:
            if type(m) is k:
                hooks.append(m.register_forward_hook(
                    lambda mod, i, o, name=k.__name__: counts.__setitem__(name, counts[name] + 1)))
    try:
        module.eval()
        with torch.no_grad():
            module(x)
    finally:
        for h in hooks:
            h.remove()
    return counts
