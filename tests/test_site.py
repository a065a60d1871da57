"""The documentation site: builds under ``mkdocs build --strict``, every page renders its figures in
headless Chromium without console errors, and the variant pages' snippets run."""
from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from _tools import tool_missing

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).is_file()), None)
CHROMEDRIVER = "/usr/bin/chromedriver"       # Debian's chromium-driver; never Selenium Manager


def _build(out: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("mkdocs", reason="mkdocs is in the 'docs' extra: pip install -e '.[docs]'")
    pytest.importorskip("material", reason="mkdocs-material is in the 'docs' extra")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}     # mkdocs-material's banner about MkDocs 2.0
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f",
                           str(REPO / "mkdocs.yml"), "-d", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=REPO, env=env)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    proc = _build(out)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out, proc


def test_site_builds_strict_without_warnings(site):
    out, proc = site
    assert "WARNING" not in proc.stderr, proc.stderr
    assert (out / "index.html").is_file()
    for md in sorted((REPO / "docs" / "variants").glob("*.md")):
        page = out / "variants" / md.stem / "index.html"
        assert page.is_file(), f"{md.name} was not built"
        # every variant page shows its figure, states a cost, and has a runnable snippet
        html = page.read_text()
        assert re.search(r'<img[^>]+src="[^"]*img/fig\d_[a-z_]+\.png"', html), md.name
        text = md.read_text()
        assert "## Cost" in text and "## Run it" in text and "```python" in text, md.name


def _python_blocks(md: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", md.read_text(), flags=re.S)


@pytest.mark.parametrize("page", sorted(p.name for p in (REPO / "docs" / "variants").glob("*.md")))
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


def test_every_page_renders_its_figures(server, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    base, out = server
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("index.html"))
    assert len(pages) >= 10
    problems, figures_seen = [], 0
    for page in pages:
        url = f"{base}/{page[:-len('index.html')]}"
        browser.get(url)
        WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
        # wait until every image has finished loading (or failed)
        WebDriverWait(browser, 30).until(lambda d: d.execute_script(
            "return Array.from(document.images).every(i => i.complete)"))
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])")
        for src, width in images:
            if not width:
                problems.append(f"{page}: image {src} did not render")
            if "img/fig" in (src or ""):
                figures_seen += 1
        if "<h1" not in browser.page_source:
            problems.append(f"{page}: no heading rendered")
        for entry in browser.get_log("browser"):
            if entry.get("level") == "SEVERE":
                problems.append(f"{page}: console error: {entry.get('message')}")
    assert not problems, "\n".join(problems)
    assert figures_seen >= 9            # each of the nine figures appears somewhere


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
