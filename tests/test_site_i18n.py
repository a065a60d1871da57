"""The site in both languages: every menu label and page number in Spanish form, one search index per
language, notebook pages that link their notebook and say how to run it, and the figures that follow
the page language."""
from __future__ import annotations

import inspect
import json
import re
from html import unescape
from pathlib import Path

import pytest
from _site import built_site
from _tools import tool_missing

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return built_site(tmp_path_factory)


def test_notebook_pages_link_their_notebook_and_say_how_to_run_it(site):
    """Each notebook page, in both languages, has a download link to its own notebook (copied beside the
    page, byte for byte) and a "run it" line naming `make notebooks`."""
    out, _ = site
    notebooks = sorted((REPO / "docs" / "notebooks").glob("*.ipynb"))
    assert len(notebooks) == 20
    for nb in notebooks:
        stem = nb.name.removesuffix(".ipynb").removesuffix(".es")
        lang, run = ("es/", "Ejecútalo") if nb.name.endswith(".es.ipynb") else ("", "Run it")
        page = out / f"{lang}notebooks" / stem / "index.html"
        html = page.read_text()
        link = re.search(rf'<p class="nb-run"><a href="{re.escape(nb.name)}" download>', html)
        assert link and run in html and "make notebooks" in html, f"{page}: no download link or run line"
        assert (page.parent / nb.name).read_bytes() == nb.read_bytes(), f"{nb.name} is not beside its page"


def test_search_has_one_index_per_language_and_indexes_notebooks_as_prose(site):
    """English search finds English pages only and Spanish search Spanish ones (each page once), and a
    notebook page is indexed by its prose, not by a dump of its code cells."""
    out, _ = site
    en = json.loads((out / "search" / "search_index.json").read_text())
    es = json.loads((out / "es" / "search" / "search_index.json").read_text())
    assert en["config"]["lang"] == ["en"] and es["config"]["lang"] == ["es"]
    for index, lang in ((en, "en"), (es, "es")):
        locations = [d["location"] for d in index["docs"]]
        assert not any(loc.startswith("es/") for loc in locations), f"{lang}: Spanish pages in the index"
        assert len(locations) == len(set(locations)), f"{lang}: an entry twice"
        pages = {loc for loc in locations if "#" not in loc}
        assert {"layers/", "notebooks/01-separable-filters/"} <= pages, f"{lang}: pages missing from the index"
        for doc in index["docs"]:
            if "notebooks/" in doc["location"]:
                assert "<pre>" not in doc["text"] and "Copied!" not in doc["text"], doc["location"]
                assert not doc["title"].endswith("¶"), doc["title"]
        titles = [(d["location"].split("#")[0], d["title"]) for d in index["docs"] if "notebooks/" in d["location"]]
        assert len(titles) == len(set(titles)), f"{lang}: a notebook lists a heading with its own title"
    # a Spanish page fetches the Spanish index: Material reads it from __config.base
    for page, base in (("es/index.html", "."), ("es/layers/index.html", ".."), ("layers/index.html", "..")):
        html = (out / page).read_text()
        assert re.search(r'"base": "([^"]*)"', html).group(1) == base, page


def test_every_menu_label_has_a_spanish_translation():
    """mkdocs-static-i18n shows a nav label untranslated under /es/ unless nav_translations names it."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass
    _Loader.add_multi_constructor("", lambda loader, suffix, node: None)      # mkdocs.yml's !!python tags
    cfg = yaml.load((REPO / "mkdocs.yml").read_text(), Loader=_Loader)
    i18n = next(p["i18n"] for p in cfg["plugins"] if isinstance(p, dict) and "i18n" in p)
    spanish = next(lang for lang in i18n["languages"] if lang["locale"] == "es")["nav_translations"]

    def labels(items):
        for item in items:
            for label, value in item.items():
                yield label
                if isinstance(value, list):
                    yield from labels(value)
    missing = [label for label in labels(cfg["nav"]) if label not in spanish]
    assert not missing, f"menu labels without a Spanish translation: {missing}"


# the generated command reference of cli.es.md is the parsers' English help, identical to cli.md's (test_cli_docs)
_NOT_PROSE = re.compile(r"<!-- BEGIN GENERATED.*?<!-- END GENERATED -->"
                        r"|```.*?```|`[^`\n]*`|<[^>\n]+>|\]\([^)\n]*\)|arXiv[: ]\s*\d{4}\.\d{4,5}"
                        r"|\b\d{4}\.\d{5}\b|\b(?:Sec|Eq|Ec|Fig|Table|Tabla)\.? \d+\.\d+", re.S)   # section numbers
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$", re.S)


def test_spanish_pages_write_numbers_the_spanish_way():
    """Decimal comma (0,1131; 1{,}2 in math) and thin-space thousands (1 572 864) on every .es.md page: no
    English 0.1131 or 1,572,864 outside code, links and arXiv numbers."""
    bad = []
    for page in sorted((REPO / "docs").rglob("*.es.md")):
        text = _NOT_PROSE.sub(" ", page.read_text())
        math = " ".join(_MATH.findall(text))
        prose = _MATH.sub(" ", text)
        bad += [f"{page.name}: {m}" for m in re.findall(r"(?<![\w.,])\d+\.\d+(?![\d.])", prose + " " + math)]
        bad += [f"{page.name}: {m}" for m in re.findall(r"(?<![\w.,])[1-9]\d{0,2}(?:,\d{3}){2,}(?!\d)", prose)]
        bad += [f"{page.name}: {m}" for m in re.findall(r"\d\{,\}\d{3}\{,\}\d{3}", math)]
    assert not bad, f"English number formats on Spanish pages: {bad[:10]}"




# figure 4's curves: the scaling study the English figure was drawn from (see its results.json's note)
SCALING_STUDY = REPO / "experiments" / "results" / "scale_small"


def test_every_page_has_its_spanish_twin():
    """Spanish complete: every English page (30) and every notebook (10) has a Spanish twin, so no page of
    the Spanish site falls back to English (``fallback_to_default`` would hide a missing one)."""
    docs = REPO / "docs"
    pages = sorted(p for p in docs.rglob("*.md") if not p.name.endswith(".es.md") and "_hooks" not in p.parts)
    notebooks = sorted(p for p in docs.rglob("*.ipynb") if not p.name.endswith(".es.ipynb"))
    missing = [p.relative_to(docs).as_posix() for p in pages + notebooks
               if not p.with_name(p.name.replace(p.suffix, ".es" + p.suffix)).is_file()]
    assert not missing, f"pages without a Spanish twin: {missing}"
    assert (len(pages), len(notebooks)) == (30, 10), "a page was added or removed: update this count"


def test_spanish_pages_are_built_as_spanish(site):
    """Each Spanish page is built under /es/ from its .es.md (not the English fallback)."""
    out, _ = site
    docs = REPO / "docs"
    for es in sorted(docs.rglob("*.es.md")):
        rel = es.relative_to(docs).as_posix().removesuffix(".es.md")
        page = out / "es" / ("" if rel == "index" else rel) / "index.html"
        html = page.read_text()
        assert 'lang="es"' in html, f"{page} is not built as Spanish"
        title = re.sub(r"[`*]", "", re.search(r"^# (.+)$", es.read_text(), flags=re.M).group(1))
        h1 = re.search(r"<h1[^>]*>(.*?)</h1>", html, flags=re.S)
        assert h1 and title[:30] in unescape(re.sub(r"<[^>]+>", "", h1.group(1))), \
            f"{page} does not show its Spanish title {title!r} (built from the English page?)"


def test_every_figure_has_its_spanish_twin(site):
    """10 of 10: every figure function takes the page language and every figure has a committed
    ``<stem>.es.png`` that the Spanish site serves in place of the English one."""
    from convzoo.figures import FIGURES

    out, _ = site
    assert len(FIGURES) == 10
    for spec in FIGURES.values():
        es, en = REPO / "docs" / "img" / f"{spec.stem}.es.png", REPO / "docs" / "img" / f"{spec.stem}.png"
        assert es.is_file(), f"docs/img/{spec.stem}.es.png missing: figure {spec.number} has no Spanish twin"
        assert es.read_bytes() != en.read_bytes()
        assert (out / "es" / "img" / f"{spec.stem}.png").read_bytes() == es.read_bytes()
        assert (out / "img" / f"{spec.stem}.png").read_bytes() == en.read_bytes()
        assert "lang" in inspect.signature(spec.load()).parameters, f"figure {spec.number} takes no lang"


def _fresh_draw(number: int, out: Path, lang: str, options: dict) -> bytes:
    """The PNG of figure ``number`` as a fresh process draws it (what ``convzoo figures`` writes): drawn
    after other figures in one process, a figure may come out a pixel apart (matplotlib's state), so the
    committed files are compared with a first draw."""
    import os
    import subprocess
    import sys
    opts = ", ".join(f"{k}={str(v)!r}" for k, v in options.items())
    code = (f"from convzoo.figures import make_figure; r = make_figure({number}, {str(out)!r}, formats=('png',), "
            f"lang={lang!r}{', ' + opts if opts else ''}); print(r.paths[0])")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stderr
    return Path(p.stdout.strip().splitlines()[-1]).read_bytes()


def _same_picture(a: bytes, b: bytes, tolerance: float = 1e-5) -> bool:
    """Two PNGs show the same picture: the same size, and at most ``tolerance`` of the pixels apart.
    Figure 4 drawn in six fresh processes came out in three byte-different files, 0, 1 or 2 pixels of
    its 1,015,000 apart (matplotlib's layout, steady under a fixed PYTHONHASHSEED), so "what the code
    draws" is compared as pictures; a stale figure moves thousands of pixels."""
    import io

    import numpy as np
    from PIL import Image
    x, y = (np.asarray(Image.open(io.BytesIO(d)).convert("RGB")).astype(int) for d in (a, b))
    return x.shape == y.shape and int((np.abs(x - y).max(-1) > 0).sum()) <= tolerance * x.shape[0] * x.shape[1]


@pytest.mark.slow
@pytest.mark.parametrize("number, stem, keys", [
    (1, "fig1_separable", ("filtered",)),
    (2, "fig2_variants", ("costs", "cost_ratio")),
    (3, "fig3_inverted_residual", ("widths", "costs")),
    (4, "fig4_scaling", ("models", "multipliers", "study_curves")),
    (5, "fig5_convnext", ("widths", "calls", "costs")),
    (6, "fig6_dilation", ("stack_rf", "context_module_rf", "plain_rf")),
    (7, "fig7_transposed", ("x", "kernel", "y_scatter", "y_matrix")),
    (10, "fig10_reparam", ("max_rel_diff", "costs")),
])
def test_spanish_site_shows_the_spanish_figures(site, tmp_path, number, stem, keys):
    """Figures 1-7 and 10 follow the page language: ``lang="es"`` draws the same numbers with Spanish
    words into ``<stem>.es.png``, which the Spanish site serves in place of the English one; both
    committed PNGs are what the code draws (figure 4 from the scaling study it shows)."""
    pytest.importorskip("matplotlib", reason="matplotlib is in the 'figures' extra")
    import numpy as np

    from convzoo.figures import make_figure

    options = {"run_dir": SCALING_STUDY} if number == 4 else {}
    en = make_figure(number, tmp_path, formats=("png",), **options)
    es = make_figure(number, tmp_path, formats=("png",), lang="es", **options)
    assert [p.name for p in es.paths] == [f"{stem}.es.png"]
    assert all(en.data[k] == es.data[k] if isinstance(en.data[k], dict) else np.array_equal(en.data[k], es.data[k])
               for k in keys)
    assert es.paths[0].read_bytes() != en.paths[0].read_bytes()
    drawn = _fresh_draw(number, tmp_path / "fresh", "es", options)
    spanish = (REPO / "docs" / "img" / f"{stem}.es.png").read_bytes()
    assert _same_picture(drawn, spanish), \
        f"docs/img/{stem}.es.png is stale: redraw it with make_figure({number}, 'docs/img', lang='es')"
    out, _ = site
    assert (out / "es" / "img" / f"{stem}.png").read_bytes() == spanish
    english = (REPO / "docs" / "img" / f"{stem}.png").read_bytes()
    assert (out / "img" / f"{stem}.png").read_bytes() == english
    if number == 4:
        assert _same_picture(_fresh_draw(number, tmp_path / "fresh", "en", options), english), \
            "docs/img/fig4_scaling.png is not drawn from SCALING_STUDY"
    with pytest.raises(ValueError, match="lang must be one of"):
        make_figure(number, tmp_path, formats=("png",), lang="fr")


@pytest.mark.slow
@pytest.mark.parametrize("number, stem, keys", [
    (8, "fig8_waveform", ("label", "word", "sample_rate", "waveform")),
    (9, "fig9_video", ("label", "direction", "frames", "clip")),
])
def test_figures_drawn_from_training_take_the_page_language(tmp_path, number, stem, keys):
    """Figures 8 and 9 train small nets (or read trained runs), so their committed PNGs cannot be
    redrawn here; in fast mode ``lang="es"`` writes ``<stem>.es.png`` from the same data with other
    words, and an unknown language fails before any training."""
    pytest.importorskip("matplotlib", reason="matplotlib is in the 'figures' extra")
    import numpy as np

    from convzoo.figures import make_figure

    if number == 8:
        from convzoo.data.spoken_digits import find_espeak
        try:
            find_espeak(None)
        except Exception as e:                    # the Debian package espeak-ng (installed by .ci/run)
            tool_missing(f"espeak-ng not available: {e}")
    with pytest.raises(ValueError, match="lang must be one of"):
        make_figure(number, tmp_path, formats=("png",), fast=True, lang="fr")
    en = make_figure(number, tmp_path, formats=("png",), fast=True)
    es = make_figure(number, tmp_path, formats=("png",), fast=True, lang="es")
    assert [p.name for p in es.paths] == [f"{stem}.es.png"]
    for k in keys:
        assert (np.array_equal(en.data[k], es.data[k]) if isinstance(en.data[k], np.ndarray)
                else en.data[k] == es.data[k]), k
    assert es.paths[0].read_bytes() != en.paths[0].read_bytes()
