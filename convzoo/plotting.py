"""Pictures drawn for the docs page and saved one way: the page's size and house style, byte-stable
PNG/SVG files that record their smallest label font, and names placed apart on a scatter.

The course figures (:mod:`convzoo.figures`), ``convzoo compare``'s, ``convzoo scale``'s and ``convzoo
search``'s plots and the experiments' pictures are all drawn in :data:`STYLE` and written by
:func:`save_figure`, so the site can check the size a reader sees (``tests/test_site_layout.py``).
This module sits below them all (.importlinter) and knows nothing of models or data.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Sequence

from ._extras import require
from .io import atomic_write

matplotlib = require("matplotlib", "figures", "the figures and plots")
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


def page_style():
    """The house style (:data:`STYLE`: labels at :data:`LABEL_PT`) as a context: draw a figure inside it,
    since a text's size is fixed when the text is made."""
    return matplotlib.rc_context(STYLE)


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




# offsets (points) tried in turn for a point's name: beside it first, then further above and below, and aside
_OFFSETS = [(dx, dy) for k in range(12) for dy in (5 + 13 * k, -13 - 13 * k) for dx in (6, -6, 48, -48)]


def place_labels(fig: Figure, offsets: Sequence[tuple[float, float]] = tuple(_OFFSETS)) -> None:
    """Move each point's name (an ``annotate`` with offset points) to the first offset where its box lies
    inside its axes and overlaps no name placed before it and no tick label (else to the offset with the
    fewest such faults): the names of close points otherwise print over each other. Lays the figure out
    first (titles wrapped) and keeps that layout, so the boxes measured are the ones saved."""
    wrap_titles(fig)
    fig.draw_without_rendering()
    renderer = fig._get_renderer()
    for ax in fig.axes:
        frame = ax.get_window_extent(renderer)
        placed = [t.get_window_extent(renderer) for t in ax.get_xticklabels() + ax.get_yticklabels()
                  if t.get_visible() and t.get_text()]
        names = sorted((t for t in ax.texts if t.get_text() and hasattr(t, "xy")), key=lambda t: tuple(t.xy))
        for t in names:
            best = None
            for dx, dy in offsets:
                t.set_position((dx, dy))
                t.set_horizontalalignment("left" if dx > 0 else "right")
                box = name_box(t, renderer)
                hits = sum(box.overlaps(b) for b in placed) + (not _inside(box, frame))
                if best is None or hits < best[0]:
                    best = (hits, dx, dy)
                if hits == 0:
                    break
            _, dx, dy = best
            t.set_position((dx, dy))
            t.set_horizontalalignment("left" if dx > 0 else "right")
            placed.append(name_box(t, renderer))
    fig.set_layout_engine("none")          # the layout the boxes were measured in


def _inside(box, frame) -> bool:
    return box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0 and box.y1 <= frame.y1


def name_box(t, renderer):
    """The box of an annotation's words, without its leader line (``get_window_extent`` includes it)."""
    from matplotlib.text import Text

    t.update_positions(renderer)
    return Text.get_window_extent(t, renderer)
