"""The site as a student meets it: every page of both languages, loaded in headless Chromium at 1280 px
and at 390 px (a phone), is checked for

(a) no element wider than its container: every element of the article must lie inside the box of its
    nearest block container. An element inside a box that scrolls sideways (a table in its
    ``.md-typeset__scrollwrap``, a wide figure in its ``.cz-figure`` box) is fine, but the scrolling
    box itself must fit, a scrolling table keeps its first (key) column in view (``position: sticky``),
    and display math must fit its line without scrolling at all (long formulas are broken with
    ``aligned``);
(b) no raw LaTeX in the rendered text (``$$``, ``\\(``, ``\\frac`` ... outside code), no KaTeX error;
(c) figure label text at least 14 px on screen: for each figure image, shown width / natural width x
    the smallest font the figure was drawn with (in the image's own pixels, recorded in the file by
    :func:`convzoo.figures._common.save_figure`; notebook figures: the setup cell's rcParams) >= 14.

One browser session and one pass over all pages (about 150 page loads), hence ``slow``.
"""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest
from _site import built_site
from _tools import tool_missing

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).is_file()), None)
CHROMEDRIVER = "/usr/bin/chromedriver"       # Debian's chromium-driver; never Selenium Manager
WIDTHS = (1280, 390)
MIN_LABEL_PX = 14.0

# Images drawn before their plot was saved through convzoo.plotting.save_figure (which records the font), whose
# data is not in the repository, so they cannot be redrawn without rerunning what made them; any other image
# without a font record fails. Each leaves this table when its command is rerun and the image replaced (the
# code draws it for the page now: 7 in wide, labels >= 11 pt).
UNMEASURED_IMAGES: dict[str, str] = {}
# Figures still drawn wider than the page with labels under 11 pt (shrunk to the column, labels under 14 px
# on screen), not measured until redrawn for the page (7 in, >= 11 pt); remove each name then (and from
# test_figures' NOT_YET_DRAWN_FOR_THE_PAGE). None now: figures 4, 8 and 9 were the last.
PENDING_REDRAW: set[str] = set()


# Display formulas found only on a Spanish page that are allowed to be wider than the column (formula, page,
# width): none now; the three that were (conv1d-audio, reparameterization, separable-filters at 390 px) are
# broken with `aligned` like the others.
SPANISH_ONLY_FORMULAS: set[tuple[str, int, str]] = set()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    out, _ = built_site(tmp_path_factory)
    handler = functools.partial(_QuietHandler, directory=str(out))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", out
    httpd.shutdown()
    httpd.server_close()


def make_browser():
    if CHROMIUM is None or not Path(CHROMEDRIVER).is_file():
        tool_missing("headless Chromium not installed: apt-get install chromium chromium-driver "
                     "(.ci/run installs them)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the 'test' extra")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--disable-extensions", "--no-first-run", "--hide-scrollbars"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    return driver


@pytest.fixture(scope="module")
def browser():
    driver = make_browser()
    yield driver
    driver.quit()


def set_width(driver, width: int) -> None:
    """A viewport exactly ``width`` CSS px wide (device scale 1), as a phone or a laptop shows it."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})


# Everything measured in one script per page and width; returns plain lists for Python to judge.
_PROBE = r"""
const root = document.querySelector("article.md-content__inner") || document.body;
const SCROLLS = ["auto", "scroll"];
const px = v => parseFloat(v) || 0;
const out = {overflow: [], mathScroll: [], stickyMissing: [], raw: null, katexErrors: 0, images: [],
             pageWidth: document.documentElement.scrollWidth, viewport: window.innerWidth};
const describe = e => {
  const cls = typeof e.className === "string" && e.className ? "." + e.className.trim().split(/\s+/).join(".") : "";
  const text = (e.textContent || "").trim().replace(/\s+/g, " ").slice(0, 50);
  return (e.tagName.toLowerCase() + cls).slice(0, 60) + " '" + text + "'";
};
const container = e => {
  for (let p = e.parentElement; p; p = p.parentElement) {
    const d = getComputedStyle(p).display;
    if (!d.startsWith("inline") && d !== "contents" && !d.startsWith("table-") && d !== "table") return p;
    if (d === "table" || d === "inline-table") return p;
  }
  return null;
};
const inScroller = e => {
  for (let p = e.parentElement; p && p !== root.parentElement; p = p.parentElement)
    if (SCROLLS.includes(getComputedStyle(p).overflowX) && !p.classList.contains("katex-display")) return true;
  return false;
};
for (const e of root.querySelectorAll("*")) {
  if (e.closest(".katex") && !e.classList.contains("katex")) continue;     // KaTeX's own struts
  if (e.closest("svg") && e.tagName.toLowerCase() !== "svg") continue;
  if (e.closest(".md-clipboard, .headerlink, .md-tooltip, .md-annotation")) continue;
  const st = getComputedStyle(e);
  if (st.display === "none" || st.visibility === "hidden" || st.position === "fixed") continue;
  const r = e.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;
  if (inScroller(e)) continue;
  const c = container(e);
  if (!c) continue;
  const cr = c.getBoundingClientRect(), cs = getComputedStyle(c);
  // the container's box: its border box less the borders (its padding is its own to paint in)
  const left = cr.left + px(cs.borderLeftWidth), right = cr.right - px(cs.borderRightWidth);
  if (r.left < left - 1 || r.right > right + 1)
    out.overflow.push(`${describe(e)}: ${Math.round(r.width)} px at [${Math.round(r.left)}, ${Math.round(r.right)}]` +
                      ` in ${describe(c).split(" ")[0]} [${Math.round(left)}, ${Math.round(right)}]`);
}
const col = root.getBoundingClientRect();
for (const m of root.querySelectorAll(".katex-display")) {
  // where the formula lies, unscrolled, against the column: its box or, if it scrolls, its content
  const r = m.getBoundingClientRect(), right = Math.max(r.right, r.left + m.scrollWidth);
  if (r.left < col.left - 1 || right > col.right + 1)
    out.mathScroll.push({width: Math.round(right - r.left), column: Math.round(col.width),
                         tex: (m.querySelector("annotation") || m).textContent.trim().replace(/\s+/g, " ")});
}
const scroller = e => {
  for (let p = e.parentElement; p && p !== root; p = p.parentElement)
    if (SCROLLS.includes(getComputedStyle(p).overflowX)) return p;
  return null;
};
for (const t of root.querySelectorAll("table")) {
  const w = scroller(t);
  if (!w || w.scrollWidth <= w.clientWidth + 1) continue;
  const first = t.querySelector("tbody tr > :first-child");
  if (first && getComputedStyle(first).position !== "sticky")
    out.stickyMissing.push(`${w.scrollWidth} px table in ${w.clientWidth} px: ` +
                           `'${t.querySelector("th, td").textContent.trim().slice(0, 40)}'`);
}
const clone = root.cloneNode(true);
clone.querySelectorAll("pre, code, script, style, textarea, .katex, .highlight, " +
                       ".jp-CodeCell, .jp-OutputArea, .jp-InputArea").forEach(e => e.remove());
const TEX = "frac|sqrt|text|mathrm|mathbf|cdot|times|left|right|begin|end|sum|prod|alpha|beta|gamma|" +
            "lfloor|rfloor|lceil|rceil|le|ge|approx|operatorname";
const raw = clone.textContent.match(new RegExp(
  "\\$\\$|\\$[^\\s$][^$\\n]{0,80}\\$|\\\\[()\\[\\]]|\\\\(?:" + TEX + ")\\b"));
out.raw = raw && raw[0];
out.katexErrors = root.querySelectorAll(".katex-error").length;
for (const i of root.querySelectorAll("img")) {
  const r = i.getBoundingClientRect();
  out.images.push({src: i.currentSrc || i.src, natural: i.naturalWidth, shown: r.width,
                   notebook: !!i.closest(".jp-OutputArea, .jp-Cell")});
}
return out;
"""


def _font_px_of(path: Path) -> float | None:
    """The smallest label font of a convzoo figure file, in the file's own pixels (None: not recorded)."""
    from convzoo.figures._common import recorded_font_px

    return recorded_font_px(path)


def check_site(driver, base: str, out: Path, pages: list[str], widths=WIDTHS) -> tuple[list[str], dict]:
    """Load every page at every width; (problems, numbers) with numbers = pages, loads, smallest label px."""
    from selenium.webdriver.support.ui import WebDriverWait

    from test_site import NOTEBOOK_FONT_PX

    problems, label_px, font_cache = [], [], {}
    for width in widths:
        set_width(driver, width)
        for page in pages:
            where = f"{page} @ {width} px"
            driver.get(f"{base}/{page[:-len('index.html')]}")
            WebDriverWait(driver, 30).until(lambda d: d.execute_script(
                "return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete)"))
            got = driver.execute_script(_PROBE)
            if got["pageWidth"] > got["viewport"] + 1:
                problems.append(f"{where}: the page is {got['pageWidth']} px wide in a {got['viewport']} px window")
            problems += [f"{where}: wider than its container: {o}" for o in got["overflow"]]
            for m in got["mathScroll"]:
                if any(page == p and width == w and m["tex"].startswith(tex) for p, w, tex in SPANISH_ONLY_FORMULAS):
                    continue
                problems.append(f"{where}: display math wider than the column: {m['width']} px formula in a "
                                f"{m['column']} px column: '{m['tex'][:70]}'")
            problems += [f"{where}: scrolling table without a sticky key column: {t}" for t in got["stickyMissing"]]
            if got["raw"]:
                problems.append(f"{where}: raw LaTeX in the text: {got['raw']!r}")
            if got["katexErrors"]:
                problems.append(f"{where}: {got['katexErrors']} KaTeX errors")
            for img in got["images"]:
                if img["notebook"]:
                    font = NOTEBOOK_FONT_PX
                else:
                    rel = img["src"][len(base) + 1:].split("?")[0]
                    name = rel.rsplit("/", 1)[-1]
                    if name in UNMEASURED_IMAGES or name.split(".")[0] in PENDING_REDRAW:
                        continue
                    if rel not in font_cache:
                        font_cache[rel] = _font_px_of(out / rel)
                    font = font_cache[rel]
                    if font is None:
                        problems.append(f"{where}: {rel} records no label font size")
                        continue
                if not img["natural"]:
                    problems.append(f"{where}: image {img['src'][-50:]} did not load")
                    continue
                shown_px = img["shown"] / img["natural"] * font
                label_px.append((shown_px, where, img["src"].rsplit("/", 1)[-1][:40]))
                if shown_px < MIN_LABEL_PX - 0.05:
                    problems.append(f"{where}: figure {img['src'].rsplit('/', 1)[-1][:40]} labels "
                                    f"{shown_px:.1f} px on screen (< {MIN_LABEL_PX:g})")
    numbers = {"pages": len(pages), "loads": len(pages) * len(widths),
               "smallest_label": min(label_px) if label_px else None}
    return problems, numbers


def site_pages(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("index.html"))


@pytest.mark.slow
def test_every_page_fits_its_column_at_1280_and_390_px(server, browser):
    base, out = server
    pages = site_pages(out)
    assert len(pages) >= 60 and sum(p.startswith("es/") for p in pages) >= 30, "both languages are built"
    problems, numbers = check_site(browser, base, out, pages)
    assert numbers["smallest_label"] is not None, "no figure was measured"
    assert not problems, f"{len(problems)} problems on {numbers['loads']} page loads:\n" + "\n".join(problems)


@pytest.mark.parametrize("lang", ["", "es/"])
def test_figures_are_svg_drawn_for_the_page_and_open_enlarged(server, browser, lang):
    """A variant page shows its figure as SVG, at its natural size (labels >= 14 px) in its own box;
    a click opens it enlarged over the page and Escape closes it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, out = server
    set_width(browser, 1280)
    browser.get(f"{base}/{lang}variants/dilated/")
    link = browser.find_element(By.CSS_SELECTOR, "a.cz-figure--drawn")
    img = link.find_element(By.TAG_NAME, "img")
    assert img.get_attribute("src").endswith("img/fig6_dilation.svg")
    if lang:        # the Spanish site's copy is the Spanish drawing (fig6_dilation.es.svg), not the English one
        assert (out / "es/img/fig6_dilation.svg").read_bytes() != (out / "img/fig6_dilation.svg").read_bytes()
    shown, natural = browser.execute_script(
        "const i = arguments[0]; return [i.getBoundingClientRect().width, i.naturalWidth]", img)
    assert abs(shown - natural) <= 1, (shown, natural)
    link.click()
    boxes = browser.find_elements(By.CSS_SELECTOR, ".cz-lightbox img")
    assert len(boxes) == 1 and boxes[0].get_attribute("src").endswith("fig6_dilation.svg")
    assert browser.execute_script("return arguments[0].getBoundingClientRect().width", boxes[0]) > shown
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    assert not browser.find_elements(By.CSS_SELECTOR, ".cz-lightbox")
