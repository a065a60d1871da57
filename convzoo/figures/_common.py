"""Shared plumbing for the figures: the result record, atomic saving, a house style, and a tracer
that reads channel widths off a real module by running it (so drawn widths are measured, not typed).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from torch import nn

from .._extras import require
from ..io import atomic_write

matplotlib = require("matplotlib", "figures", "the figures")
matplotlib.use("Agg", force=False)  # headless; figures never need a display
from matplotlib.figure import Figure  # noqa: E402  (after the backend choice)

DEFAULT_FORMATS = ("png", "svg")
PNG_DPI = 100          # docs PNGs stay well under 300 KB at this resolution

# Figures are drawn for the page they are shown on: PAGE_WIDTH_IN wide, the site's text column at
# 1280 px (688 CSS px; an SVG's natural size is 96 px per inch, so 7 in = 672 px), and shown at their
# natural size there (docs/_hooks/figures.py), so a label of LABEL_PT points is LABEL_PT * 4/3 px on
# screen: 11 pt = 14.7 px, the body text's 16 px class, never the 5-8 px of a 13 in figure shrunk to
# the column. On a phone the figure keeps that size and scrolls in its own box (or opens enlarged).
PAGE_WIDTH_IN = 7.0
LABEL_PT = 11.0
TITLE_PT = 12.0
STYLE = {"font.size": LABEL_PT, "axes.titlesize": LABEL_PT, "axes.labelsize": LABEL_PT,
         "xtick.labelsize": LABEL_PT, "ytick.labelsize": LABEL_PT, "legend.fontsize": LABEL_PT,
         "figure.titlesize": TITLE_PT, "legend.handlelength": 1.5, "legend.borderaxespad": 0.3}
PALETTE = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]


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


def check_formats(formats: Iterable[str]) -> tuple[str, ...]:
    fmts = tuple(f.lower().lstrip(".") for f in formats)
    bad = [f for f in fmts if f not in ("png", "svg", "pdf")]
    if bad or not fmts:
        raise ValueError(f"figure formats must be among png, svg, pdf; got {list(formats)!r}")
    return fmts


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free Figure (no global state, safe in threads and tests)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig


def smallest_font_pt(fig: Figure) -> float:
    """The smallest font size (points) of any visible, non-empty text drawn in ``fig``."""
    from matplotlib.text import Text

    fig.draw_without_rendering()          # tick labels get their text at draw time
    hidden = set()                        # the axis texts of axes drawn with axis("off")
    for ax in fig.get_axes():
        if not ax.axison or not ax.get_visible():
            hidden.update(id(t) for a in (ax.xaxis, ax.yaxis) for t in a.findobj(Text))
    sizes = [t.get_fontsize() for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and id(t) not in hidden]
    return float(min(sizes)) if sizes else 0.0


def wrap_titles(fig: Figure, rounds: int = 3) -> None:
    """Break the figure's title and the axes' titles into lines that fit: an axes title within its
    axes (a little over) and inside the figure, the figure title within the figure. Labels at the
    page's text size make one-line titles of a 13 in figure too long for a 7 in one."""
    import textwrap

    for _ in range(rounds):
        fig.draw_without_rendering()
        renderer = fig._get_renderer()
        fig_w = fig.bbox.width
        targets = []
        if getattr(fig, "_suptitle", None) is not None and fig._suptitle.get_text():
            targets.append((fig._suptitle, 0.97 * fig_w))
        boxes = [(ax, ax.get_window_extent(renderer)) for ax in fig.get_axes() if ax.get_visible()]
        for ax, box in boxes:
            centre = (box.x0 + box.x1) / 2
            # up to the nearest axes beside it (same row) on either side, or the figure's edge
            row = [b for a, b in boxes if a is not ax and b.y0 < box.y1 and b.y1 > box.y0]
            left = max([b.x1 for b in row if b.x1 <= box.x0 + 1], default=0.0)
            right = min([b.x0 for b in row if b.x0 >= box.x1 - 1], default=fig_w)
            room = max(2 * min(centre - left, right - centre) - 8, box.width)
            for t in (ax.title, getattr(ax, "_left_title", None), getattr(ax, "_right_title", None)):
                if t is not None and t.get_text() and t.get_visible():
                    targets.append((t, min(room, fig_w - 8)))
        changed = False
        for t, room in targets:
            width = t.get_window_extent(renderer).width
            if width <= room:
                continue
            lines = t.get_text().split("\n")
            longest = max(len(line) for line in lines)
            chars = max(6, int(longest * room / width) - 1)
            new = "\n".join(part for line in lines for part in (textwrap.wrap(line, chars) or [""]))
            if new != t.get_text():
                t.set_text(new)
                changed = True
        if not changed:
            return


# What each file records about its text, so the site can check the size a reader sees:
# the smallest font in the file's own pixels (PNG: pixels at PNG_DPI; SVG: CSS px, 1 pt = 4/3 px).
FONT_KEY = "convzoo-min-font-px"


def save_figure(fig: Figure, out_dir: os.PathLike | str, stem: str,
                formats: Sequence[str] = DEFAULT_FORMATS) -> list[Path]:
    """Write ``fig`` as ``out_dir/stem.<fmt>`` for each format, each write atomic (temp + replace).

    Each PNG and SVG records its smallest label font in its own pixels (:data:`FONT_KEY`), read back
    by :func:`recorded_font_px`: the site test turns it into the size on screen.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wrap_titles(fig)
    font_pt = smallest_font_pt(fig)
    paths = []
    for fmt in check_formats(formats):
        # Fixed metadata and SVG hash salt keep the files byte-stable between runs.
        meta = {"Software": None} if fmt == "png" else {"Date": None}

        def write(tmp: str, fmt: str = fmt, meta: dict = meta) -> None:
            with matplotlib.rc_context({"svg.hashsalt": "convzoo", "svg.fonttype": "path"}):
                fig.savefig(tmp, format=fmt, dpi=PNG_DPI, metadata=meta)
            if fmt == "png":
                _compact_png(tmp, font_pt * PNG_DPI / 72)
            elif fmt == "svg":
                _mark_svg(tmp, font_pt * 4 / 3)
        paths.append(atomic_write(out / f"{stem}.{fmt}", write))
    return paths


def _compact_png(path: str, font_px: float) -> None:
    """Re-save a PNG with a 256-colour palette: ~3x smaller, visually the same for these plots (they
    use few colours; photos in figure 1 lose nothing visible at this size); records ``font_px``."""
    from PIL import Image, PngImagePlugin

    with Image.open(path) as im:
        q = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    info = PngImagePlugin.PngInfo()
    info.add_text(FONT_KEY, f"{font_px:.2f}")
    q.save(path, format="PNG", optimize=True, pnginfo=info, dpi=(PNG_DPI, PNG_DPI))


def _mark_svg(path: str, font_px: float) -> None:
    text = Path(path).read_text(encoding="utf-8")
    text = text.replace("<svg ", f'<svg data-{FONT_KEY}="{font_px:.2f}" ', 1)
    Path(path).write_text(text, encoding="utf-8")


def recorded_font_px(path: os.PathLike | str) -> float | None:
    """The smallest label font a figure file records, in its own pixels; None if it records none."""
    path = Path(path)
    if path.suffix == ".svg":
        m = re.search(rf'<svg [^>]*data-{FONT_KEY}="([\d.]+)"', path.read_text(encoding="utf-8")[:4000])
        return float(m.group(1)) if m else None
    if path.suffix == ".png":
        from PIL import Image

        with Image.open(path) as im:
            value = im.info.get(FONT_KEY)
        return float(value) if value else None
    return None


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
