"""MkDocs hook for the figures on the pages (``img/<stem>.png`` in the Markdown, both languages):

* the SVG is shown where the figure has one (``img/<stem>.svg``; on the Spanish site
  ``img/<stem>.es.svg``, never the English SVG in place of a Spanish PNG);
* each figure sits in a ``.cz-figure`` link to its file (click to enlarge: assets/javascripts/figures.js
  opens it full-window; without JavaScript the link opens the file);
* a figure whose file records its label font (``convzoo.plotting.save_figure``) and is at most
  7 in wide is drawn for the column: it is shown at its natural size (``cz-figure--drawn``: labels at
  the size they were drawn for, >= 14 px) and, on a screen narrower than the figure, scrolls sideways
  inside its own box. Any other image fits the column, as before.
"""
import re
import struct
from pathlib import Path

_KEY = "convzoo-min-font-px"       # convzoo.plotting.FONT_KEY
_PAGE_WIDTH_IN, _PNG_DPI = 7.0, 100  # convzoo.plotting.PAGE_WIDTH_IN, PNG_DPI

_IMG = re.compile(r'<img (?P<pre>[^>]*?)src="(?P<dir>[^"]*?img/)(?P<stem>[\w-]+)\.png"(?P<post>[^>]*)>')


def _drawn_for_the_page(path: Path) -> bool:
    """Whether the file records its smallest label font (what ``convzoo.plotting.save_figure``
    writes: an ``svg`` attribute, or a PNG ``tEXt`` chunk) and is at most the column's width
    (``PAGE_WIDTH_IN``), read without importing convzoo. A figure still drawn 13 in wide is shrunk to
    the column as before, not shown at a natural size wider than the page."""
    if not path.is_file():
        return False
    data = path.read_bytes()
    if path.suffix == ".svg":
        head = data[:4000].decode("utf-8", "replace")
        width = re.search(r'<svg [^>]*width="([\d.]+)pt"', head)
        return f"data-{_KEY}=" in head and width is not None and float(width[1]) / 72 <= _PAGE_WIDTH_IN + 0.05
    if int.from_bytes(data[16:20], "big") > (_PAGE_WIDTH_IN + 0.05) * _PNG_DPI:     # IHDR width
        return False
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"tEXt" and data[pos + 8:pos + 8 + length].split(b"\0", 1)[0] == _KEY.encode():
            return True
        if kind == b"IDAT":
            return False
        pos += 12 + length
    return False


def _source(img_dir: Path, stem: str, lang: str) -> Path:
    """The file this language's site shows for ``stem``: its SVG when there is one for the language."""
    if lang != "en" and (img_dir / f"{stem}.{lang}.png").is_file():
        svg = img_dir / f"{stem}.{lang}.svg"
        return svg if svg.is_file() else img_dir / f"{stem}.{lang}.png"
    svg = img_dir / f"{stem}.svg"
    return svg if svg.is_file() else img_dir / f"{stem}.png"


def on_page_content(content: str, page, config, files) -> str:
    img_dir = Path(config["docs_dir"]) / "img"
    lang = "es" if page.url.startswith("es/") else "en"

    def figure(m: re.Match) -> str:
        source = _source(img_dir, m["stem"], lang)
        src = f'{m["dir"]}{m["stem"]}{source.suffix}'
        drawn = " cz-figure--drawn" if _drawn_for_the_page(source) else ""
        return (f'<a class="cz-figure{drawn}" href="{src}">'
                f'<img {m["pre"]}src="{src}"{m["post"]}></a>')

    return _IMG.sub(figure, content)
