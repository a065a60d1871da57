"""MkDocs hook: one search index per language, and notebook pages indexed as prose, not code dumps.

mkdocs-static-i18n merges both languages into one ``search/search_index.json``, so an English search
lists Spanish pages and every page shows up twice. After the last build this hook splits it: the
root index keeps the English pages, ``es/search/search_index.json`` the Spanish ones (locations
relative to ``es/``), and every Spanish page's ``__config.base`` (which Material's search fetches its
index from and resolves results against) points at ``es/`` instead of the site root.

mkdocs-jupyter's notebook pages index every cell, code and "Copied!" buttons included, under the
page entry, and their headings keep the "¶" anchor sign, so the title shows twice (page and its
heading); the page entry keeps the prose only and the heading that repeats the title is folded into it.
"""
import json
import re
from pathlib import Path

from mkdocs.plugins import event_priority

SECOND = "es"
_BASE = re.compile(r'("base": ")([^"]*)(")')
_CODE = re.compile(r"<pre>.*?</pre>|In\s*\[\d*\]:|Copied!", re.S)


def on_post_page(output: str, page, config) -> str:
    if not page.url.startswith(f"{SECOND}/"):
        return output

    def one_level_down(m):
        base = m.group(2)
        return m.group(1) + (base[:-3] if base.endswith("/..") else ".") + m.group(3)
    return _BASE.sub(one_level_down, output, count=1)


def _clean_notebooks(docs: list) -> list:
    out, page_at = [], {}
    for doc in docs:
        doc = dict(doc, title=doc["title"].rstrip("¶").strip())
        page, _, anchor = doc["location"].partition("#")
        if "notebooks/" not in page:
            out.append(doc)
            continue
        if not anchor:
            doc["text"] = re.sub(r"\s+", " ", _CODE.sub(" ", doc["text"])).strip()
            page_at[page] = len(out)
            out.append(doc)
        elif page in page_at and doc["title"] == out[page_at[page]]["title"]:
            out[page_at[page]]["text"] = doc["text"]          # the heading that repeats the title: its prose
        else:
            out.append(doc)
    return out


@event_priority(-200)          # after mkdocs-static-i18n (-100) has built every language and merged the index
def on_post_build(config) -> None:
    path = Path(config["site_dir"]) / "search" / "search_index.json"
    if not path.is_file():
        return
    index = json.loads(path.read_text())
    docs = _clean_notebooks(index["docs"])
    prefix = f"{SECOND}/"
    first = [d for d in docs if not d["location"].startswith(prefix)]
    second = [dict(d, location=d["location"][len(prefix):]) for d in docs if d["location"].startswith(prefix)]
    if not first or not second:          # an inner build of one language: the merged index comes later
        return
    path.write_text(json.dumps({**index, "config": {**index["config"], "lang": ["en"]}, "docs": first}))
    es_path = Path(config["site_dir"]) / SECOND / "search" / "search_index.json"
    es_path.parent.mkdir(parents=True, exist_ok=True)
    es_path.write_text(json.dumps({**index, "config": {**index["config"], "lang": [SECOND]}, "docs": second}))
