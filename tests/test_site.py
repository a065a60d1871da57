"""The documentation site: builds under ``mkdocs build --strict``, every page renders its figures in
headless Chromium without console errors, and the variant pages' snippets run."""
from __future__ import annotations

import functools
import http.server
import json
import re
import threading
from pathlib import Path
from typing import Optional

import pytest
from _site import built_site
from _tools import tool_missing

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).is_file()), None)
CHROMEDRIVER = "/usr/bin/chromedriver"       # Debian's chromium-driver; never Selenium Manager
# English variant pages; each has a Spanish twin ``name.es.md`` (mkdocs-static-i18n, built under /es/)
VARIANTS = sorted(p for p in (REPO / "docs" / "variants").glob("*.md") if not p.name.endswith(".es.md"))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return built_site(tmp_path_factory)


def test_site_builds_strict_without_warnings(site):
    out, proc = site
    assert "WARNING" not in proc.stderr, proc.stderr
    assert (out / "index.html").is_file()
    for md in VARIANTS:
        page = out / "variants" / md.stem / "index.html"
        assert page.is_file(), f"{md.name} was not built"
        # every variant page shows its figure, states a cost, and has a runnable snippet
        html = page.read_text()
        assert re.search(r'<img[^>]+src="[^"]*img/fig\d+_[a-z_]+\.(?:png|svg)"', html), md.name   # SVG where drawn
        text = md.read_text()
        assert "## Cost" in text and "## Run it" in text and "```python" in text, md.name


def _python_blocks(md: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", md.read_text(), flags=re.S)


def test_spanish_variant_pages_twin_the_english_ones(site):
    """Each variant page has a Spanish twin, built under /es/, with the figure, the cost formulas and
    the same snippets (so the snippets tested below are the Spanish page's too)."""
    out, _ = site
    for md in VARIANTS:
        es = md.with_name(md.stem + ".es.md")
        assert es.is_file(), f"{md.name} has no Spanish twin"
        assert _python_blocks(es) == _python_blocks(md), f"{es.name}: its snippets differ from {md.name}"
        text = es.read_text()
        assert "## Coste" in text and "$$" in text and "img/fig" in text, es.name
        html = (out / "es" / "variants" / md.stem / "index.html").read_text()
        assert 'lang="es"' in html, f"{es.name} is not built as Spanish"


@pytest.mark.parametrize("page", [p.name for p in VARIANTS])
def test_variant_snippets_run(page, capsys):
    blocks = _python_blocks(REPO / "docs" / "variants" / page)
    assert blocks, f"{page} has no python snippet"
    for code in blocks:
        exec(compile(code, f"docs/variants/{page}", "exec"), {"__name__": "__snippet__"})


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):       # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def server(site):
    out, _ = site
    handler = functools.partial(_QuietHandler, directory=str(out))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)     # a free random port
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", out
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None or not Path(CHROMEDRIVER).is_file():
        tool_missing("headless Chromium not installed: apt-get install chromium chromium-driver "
                     "(.ci/run installs them)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the 'test' extra")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--disable-extensions", "--no-first-run"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium skips Selenium Manager, so nothing is downloaded.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


# One pass over every built page (English and /es/): figures load, math is rendered by the site's own
# KaTeX (no raw $ or \( left in the text), code blocks do not overflow hidden at 1280 px, notebook
# figures are shown large enough that their text is at least the body's size, and every request the
# page made stayed on this site.
_PAGE_PROBE = r"""
const clone = document.body.cloneNode(true);       // the whole page: article, navigation, table of contents
clone.querySelectorAll("pre, code, script, style, .katex, .highlight, .jp-CodeCell, .jp-OutputArea")
     .forEach(e => e.remove());
const text = clone.textContent;
const raw = text.match(/\$\$|\$[^\s$][^$\n]{0,80}\$|\\\(|\\\[/);
const overflow = Array.from(document.querySelectorAll("pre, pre > code")).filter(e => {
    const st = getComputedStyle(e);
    return e.scrollWidth > e.clientWidth + 1 && !["auto", "scroll"].includes(st.overflowX);
}).map(e => e.textContent.slice(0, 40));
const clipped = Array.from(document.querySelectorAll("article pre > code")).filter(
    e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.slice(0, 40));
const nbImages = Array.from(document.querySelectorAll(".jp-OutputArea img")).map(
    i => [i.naturalWidth, i.getBoundingClientRect().width]);
const body = parseFloat(getComputedStyle(document.querySelector(".md-typeset") || document.body).fontSize);
const mathNodes = document.querySelectorAll(".arithmatex").length;
const katexNodes = document.querySelectorAll(".katex").length;
const requests = performance.getEntriesByType("resource").map(r => r.name);
return {raw: raw && raw[0], overflow, clipped, nbImages, body, mathNodes, katexNodes, requests};
"""


def _notebook_font_px() -> float:
    """Text height in a notebook figure's PNG: the rcParams every notebook's setup cell sets (pt * dpi / 72)."""
    sizes = set()
    for nb in (REPO / "docs" / "notebooks").glob("*.ipynb"):
        code = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
        assert "fontsize=" not in code, f"{nb.name} sets a font size below the page's (use the rcParams)"
        sizes.add(re.search(r'"font.size": (\d+), "figure.dpi": (\d+)', code).groups())
    assert len(sizes) == 1, f"the notebooks disagree on font.size / figure.dpi: {sizes}"
    size, dpi = sizes.pop()
    return int(size) * int(dpi) / 72


NOTEBOOK_FONT_PX = _notebook_font_px()


def _check_page(browser, page: str, base: str) -> tuple[list[str], int, int]:
    problems, figures, maths = [], 0, 0
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])")
    for src, width in images:
        if not width:
            problems.append(f"{page}: image {(src or '')[:60]} did not render")
        if "img/fig" in (src or ""):
            figures += 1
    if "<h1" not in browser.page_source:
        problems.append(f"{page}: no heading rendered")
    probe = browser.execute_script(_PAGE_PROBE)
    if probe["raw"]:
        problems.append(f"{page}: math left unrendered: {probe['raw']!r}")
    if probe["mathNodes"] and not probe["katexNodes"]:
        problems.append(f"{page}: {probe['mathNodes']} math nodes, none rendered by KaTeX")
    maths += probe["katexNodes"]
    for snippet in probe["overflow"] + probe["clipped"]:
        problems.append(f"{page}: code block wider than the page: {snippet!r}")
    for natural, shown in probe["nbImages"]:
        if natural and NOTEBOOK_FONT_PX * shown / natural < probe["body"] - 0.5:
            problems.append(f"{page}: notebook figure text {NOTEBOOK_FONT_PX * shown / natural:.1f} px "
                            f"< body {probe['body']:.1f} px")
    for url in probe["requests"]:
        if not (url.startswith(base) or url.startswith("data:")):
            problems.append(f"{page}: request leaves the site: {url}")
    for entry in browser.get_log("browser"):
        if entry.get("level") == "SEVERE":
            problems.append(f"{page}: console error: {entry.get('message')}")
    return problems, figures, maths


@pytest.mark.slow
def test_every_page_renders_its_figures_and_math(server, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    base, out = server
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("index.html"))
    spanish = [p for p in pages if p.startswith("es/")]
    assert len(pages) >= 20 and len(spanish) >= 10, "the site is built in English and Spanish"
    assert {"slides/index.html", "explorer/index.html", "es/slides/index.html", "es/explorer/index.html"} <= set(pages)
    problems, figures_seen, math_seen = [], 0, 0
    for page in pages:
        browser.get(f"{base}/{page[:-len('index.html')]}")
        WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
        WebDriverWait(browser, 30).until(lambda d: d.execute_script(
            "return Array.from(document.images).every(i => i.complete)"))
        found, figures, maths = _check_page(browser, page, base)
        problems += found
        figures_seen += figures
        math_seen += maths
    assert not problems, "\n".join(problems)
    assert figures_seen >= 18            # each of the nine figures appears somewhere, in both languages
    assert math_seen >= 200              # the variant pages, notebooks and explorer carry formulas


def test_site_needs_no_network(site):
    """No page pulls scripts, styles or fonts from another host (the site works offline)."""
    out, _ = site
    for page in out.rglob("*.html"):
        html = page.read_text()
        for url in re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', html):
            pytest.fail(f"{page.relative_to(out)} loads {url}")


def _num(cell: str) -> int:
    return int(re.sub(r"[^\d]", "", cell.split("(")[0]))


def _rows(page: str) -> dict[str, list[str]]:
    """First cell -> the other cells, for every markdown table row of a variant page."""
    rows = {}
    for line in (REPO / "docs" / "variants" / page).read_text().splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_cost_tables_in_the_docs_match_the_library():
    """The measured numbers printed on the variant pages are what convzoo computes today."""
    import convzoo
    from convzoo.analysis import profile
    from convzoo.data import dataset_info
    from convzoo.figures.scaling import describe_efficientnet
    from convzoo.figures.variants import build_variant

    rows = _rows("depthwise-separable.md")
    for label, variant in (("standard 3x3", "standard"), ("spatially separable, rank 512", "spatially_separable"),
                           ("depthwise 3x3", "depthwise"), ("pointwise 1x1", "pointwise"),
                           ("depthwise-separable", "depthwise_separable")):
        p = profile(build_variant(variant, 512, 512, 3), (512, 14, 14))
        assert [_num(c) for c in rows[label][:2]] == [p.params, p.macs], label
    rows = _rows("conv3d-video.md")
    size = tuple(dataset_info("moving_digits").input_size)
    for name in ("frame2d_small", "c3d_small", "r2plus1d_small"):
        label = next(k for k in rows if k.startswith(name))
        p = profile(convzoo.create_model(name), size)
        assert [_num(c) for c in rows[label][:2]] == [p.params, p.macs], name
    rows = _rows("conv1d-audio.md")
    m5 = convzoo.create_model("waveform_m5", num_classes=10)
    for label, length in (("1 s at 8 kHz", 8000), ("4 s at 8 kHz", 32000)):
        key = next(k for k in rows if k.startswith(label))
        p = profile(m5, (1, length))
        assert [_num(c) for c in rows[key][:2]] == [p.params, p.macs], label
    rows = _rows("compound-scaling.md")
    for b in ("B0", "B3"):
        d = describe_efficientnet(f"efficientnet_{b.lower()}")
        assert [_num(c) for c in rows[b]] == [d["resolution"], d["depth"], d["params"]], b


def _explorer_settings() -> list[dict]:
    """A deterministic grid over every control, invalid settings included (>= 200)."""
    import random

    rnd = random.Random(30)
    settings = []
    for dims in (1, 2, 3):
        for transposed in (False, True):
            for _ in range(45):
                cin, cout = rnd.choice([(1, 1), (2, 4), (4, 8), (6, 3), (8, 8), (3, 6)])
                settings.append(dict(
                    dims=dims, size=rnd.randint(2, 12), cin=cin, cout=cout, kernel=rnd.randint(1, 5),
                    stride=rnd.randint(1, 3), padding=rnd.randint(0, 3), dilation=rnd.randint(1, 3),
                    groups=rnd.choice([1, 1, 1, 2, cin]), outpad=rnd.randint(0, 2) if transposed else 0,
                    transposed=transposed, bias=rnd.random() < 0.5))
    return settings


def _convzoo_numbers(c: dict) -> Optional[dict]:
    """What convzoo computes for one explorer setting, or None where convzoo (or PyTorch) refuses it."""
    from torch import nn

    from convzoo.analysis import conv_output_size, conv_transpose_output_size, profile, receptive_field

    try:
        if c["transposed"]:
            out = conv_transpose_output_size(c["size"], c["kernel"], s=c["stride"], p=c["padding"],
                                             output_padding=c["outpad"], d=c["dilation"])
            cls = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[c["dims"] - 1]
            layer = cls(c["cin"], c["cout"], c["kernel"], c["stride"], c["padding"], c["outpad"],
                        groups=c["groups"], bias=c["bias"], dilation=c["dilation"])
        else:
            out = conv_output_size(c["size"], c["kernel"], s=c["stride"], p=c["padding"], d=c["dilation"])
            cls = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[c["dims"] - 1]
            layer = cls(c["cin"], c["cout"], c["kernel"], c["stride"], c["padding"], c["dilation"],
                        groups=c["groups"], bias=c["bias"])
    except ValueError:
        return None
    p = profile(layer, (c["cin"],) + (c["size"],) * c["dims"])
    rf = None if c["transposed"] else receptive_field([(c["kernel"], c["stride"], c["dilation"])])[-1].receptive_field
    return dict(size=" × ".join([str(out)] * c["dims"]), params=p.params, macs=p.macs, rf=rf)


_EXPLORER_DRIVE = r"""
const [settings] = arguments;
const root = document.querySelector(".conv-explorer");
const out = id => root.querySelector(`[data-out=${id}]`);
return settings.map(c => {
    for (const [k, v] of Object.entries(c)) {
        const input = root.querySelector(`[name=${k}]`);
        if (input.type === "checkbox") input.checked = v; else input.value = String(v);
    }
    root.querySelector("[name=animate]").checked = false;
    root.dispatchEvent(new Event("input"));
    return {size: out("size").textContent, params: out("params").textContent, macs: out("macs").textContent,
            rf: out("rf").textContent, error: out("error").hidden ? null : out("error").textContent,
            cells: root.querySelectorAll("svg rect").length};
});
"""


@pytest.mark.parametrize("lang", ["", "es/"])
def test_explorer_numbers_equal_convzoo(server, browser, lang):
    """The explorer page, driven through its own controls in Chromium, shows convzoo.analysis's output
    size, parameters, MACs and receptive field on 270 settings (>= 200 valid), and refuses exactly what
    convzoo refuses."""
    base, _ = server
    browser.get(f"{base}/{lang}explorer/")
    settings = _explorer_settings()
    assert len(settings) >= 200
    shown = browser.execute_script(_EXPLORER_DRIVE, settings)
    digits = lambda t: int(re.sub(r"[^\d]", "", t))      # noqa: E731
    bad, refused = [], 0
    for c, got in zip(settings, shown):
        want = _convzoo_numbers(c)
        if want is None:
            refused += 1
            if not got["error"]:
                bad.append(f"{c}: convzoo refuses it, the page shows {got}")
            continue
        have = dict(size=got["size"], params=digits(got["params"]), macs=digits(got["macs"]),
                    rf=None if got["rf"] == "–" else digits(got["rf"]))
        if got["error"] or have != want or got["cells"] == 0:
            bad.append(f"{c}: page {got} != convzoo {want}")
    assert not bad, f"{len(bad)} of {len(settings)} settings differ:\n" + "\n".join(bad[:10])
    assert refused >= 10 and len(settings) - refused >= 200     # >= 200 valid settings, and refusals


_EXPLORER_LIMIT = r"""
const root = document.querySelector(".conv-explorer");
const size = root.querySelector("[name=size]");
const error = root.querySelector("[data-out=error]");
size.value = "1000";
root.dispatchEvent(new Event("input"));
const shown = {error: error.hidden ? null : error.textContent, size: root.querySelector("[data-out=size]").textContent,
               cells: root.querySelectorAll("svg rect").length, invalid: size.getAttribute("aria-invalid")};
size.value = "7";
root.dispatchEvent(new Event("input"));
shown.cleared = error.hidden;
return shown;
"""


@pytest.mark.parametrize("lang, words", [("", "Input size (each axis): enter a whole number from 1 to 512"),
                                         ("es/", "Tamaño de entrada (cada eje): escribe un número entero de 1 a 512")])
def test_explorer_refuses_a_size_over_its_maximum(server, browser, lang, words):
    """A size of 1000 typed over the field's max of 512 is refused with the page's message: nothing is
    computed or drawn, and the field is marked invalid until it is back in range."""
    base, _ = server
    browser.get(f"{base}/{lang}explorer/")
    got = browser.execute_script(_EXPLORER_LIMIT)
    assert got["error"] == words + "." and got["size"] == "–" and got["cells"] == 0, got
    assert got["invalid"] == "true" and got["cleared"] is True, got
