"""Figures computed by convzoo itself: one function per idea of the lecture, each returning the
files it wrote *and* the numbers it drew (:class:`FigureResult`), so tests check the numbers.

    >>> from convzoo.figures import make_figure
    >>> res = make_figure(6, "figs")            # dilation; writes figs/fig6_dilation.{png,svg}
    >>> res.data["context_module_rf"]           # from convzoo.analysis.receptive_field
    [3, 5, 9, 17, 33, 65, 67, 67]

Every figure function has the signature ``fn(out_dir, *, formats=("png", "svg"), fast=False,
run_dir=None, seed=0, lang="en")``. ``fast`` shrinks the figures that train a network (8, 9) to a few seconds;
``run_dir`` lets them read a trained model instead of training one; ``lang="es"`` draws the same numbers
with Spanish words into ``<stem>.es.<fmt>`` (the Spanish site's copy).
"""
from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from .._extras import require
from ._common import DEFAULT_FORMATS, STYLE, FigureResult, check_formats, matplotlib


@dataclass(frozen=True)
class FigureSpec:
    number: int
    slug: str
    title: str
    module: str      # convzoo.figures.<module>
    function: str

    @property
    def stem(self) -> str:
        return f"fig{self.number}_{self.slug}"

    def load(self) -> Callable[..., FigureResult]:
        return getattr(importlib.import_module(f"{__name__}.{self.module}"), self.function)


# The figures, in lecture order (10: where the lecture's split convolution went next).
FIGURES: dict[int, FigureSpec] = {s.number: s for s in [
    FigureSpec(1, "separable", "Separable filters: outer products and the SVD", "separable", "figure_separable"),
    FigureSpec(2, "variants", "Standard, spatially separable, depthwise, pointwise, depthwise-separable",
               "variants", "figure_variants"),
    FigureSpec(3, "inverted_residual", "Inverted residual vs classic bottleneck; MBConv vs Fused-MBConv vs UIB",
               "inverted_residual", "figure_inverted_residual"),
    FigureSpec(4, "scaling", "EfficientNet compound scaling", "scaling", "figure_scaling"),
    FigureSpec(5, "convnext", "ConvNeXt block (and V2's) beside a ResNet bottleneck", "convnext", "figure_convnext"),
    FigureSpec(6, "dilation", "Dilated convolution and receptive-field growth", "dilation", "figure_dilation"),
    FigureSpec(7, "transposed", "Transposed convolution: scatter and matrix", "transposed", "figure_transposed"),
    FigureSpec(8, "waveform", "1D convolution on raw audio (M5)", "waveform", "figure_waveform"),
    FigureSpec(9, "video", "2D vs 3D convolution over video frames", "video", "figure_video"),
    FigureSpec(10, "reparam", "Structural re-parameterization: RepVGG and MobileOne", "reparam", "figure_reparam"),
]}


def parse_selection(only: Optional[str | Iterable[int]]) -> list[int]:
    """``None`` -> all; ``"1,6"`` / ``"2-4"`` / ``[1, 6]`` -> those numbers (ValueError otherwise)."""
    if only is None or only == "" or only == "all":
        return sorted(FIGURES)
    items: list[int] = []
    parts = only.split(",") if isinstance(only, str) else list(only)
    for part in parts:
        text = str(part).strip()
        try:
            if "-" in text:
                lo, hi = (int(v) for v in text.split("-", 1))
                items.extend(range(lo, hi + 1))
            else:
                items.append(int(text))
        except ValueError:
            raise ValueError(f"figure selection must look like '1,6' or '2-4'; got {only!r}") from None
    bad = [i for i in items if i not in FIGURES]
    if bad:
        raise ValueError(f"figure numbers must be in 1..{max(FIGURES)}; got {bad}")
    return sorted(set(items))


def make_figure(number: int, out_dir, *, formats: Sequence[str] = DEFAULT_FORMATS, **options) -> FigureResult:
    """Draw figure ``number`` (1-10) into ``out_dir``; returns its :class:`FigureResult`."""
    if number not in FIGURES:
        raise ValueError(f"figure number must be in 1..{max(FIGURES)}; got {number!r}")
    spec = FIGURES[number]
    t0 = time.perf_counter()
    with matplotlib.rc_context(STYLE):          # the house style: labels at the page's text size
        result = spec.load()(Path(out_dir), formats=check_formats(formats), **options)
    result.seconds = time.perf_counter() - t0
    return result


def _missing_tool_errors() -> tuple[type[Exception], ...]:
    """The errors that mean "a program this figure needs is not installed" (figure 8: espeak-ng)."""
    from ..data.spoken_digits import EspeakNotFoundError
    return (EspeakNotFoundError,)


def make_figures(out_dir, only=None, *, formats: Sequence[str] = DEFAULT_FORMATS, progress: bool = True,
                 run_dirs: Optional[dict[int, object]] = None, skipped: Optional[list[tuple[int, str]]] = None,
                 **options) -> list[FigureResult]:
    """Draw the selected figures (all by default) with a progress bar; returns their results.

    ``run_dirs`` maps a figure number to its run folder (4: a ``convzoo scale`` study; 8: a
    ``waveform_m5`` training run; 9: a folder with ``frame2d_small/`` and ``c3d_small/`` runs).
    ``skipped``: a list to collect ``(number, reason)`` of the figures whose external program is not
    installed (figure 8 needs espeak-ng), so the others are still drawn; without it such a figure raises.
    """
    numbers = parse_selection(only)
    run_dirs = dict(run_dirs or {})
    unused = sorted(set(run_dirs) - set(numbers))
    if unused:
        raise ValueError(f"run folders were given for figures {unused}, which are not selected ({numbers})")
    tqdm = require("tqdm.auto", "figures", "the figures' progress bar").tqdm

    results = []
    with tqdm(numbers, desc="figures", unit="fig", disable=not progress) as bar:
        for n in bar:
            bar.set_postfix_str(FIGURES[n].stem)
            try:
                results.append(make_figure(n, out_dir, formats=formats, run_dir=run_dirs.get(n), **options))
            except _missing_tool_errors() as e:
                if skipped is None:
                    raise
                skipped.append((n, str(e).splitlines()[0]))
    return results


__all__ = ["FIGURES", "FigureSpec", "FigureResult", "make_figure", "make_figures", "parse_selection"]
