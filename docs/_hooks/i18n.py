"""MkDocs hooks for the bilingual site: notebooks as i18n pages, and no sitemap probes.

mkdocs-jupyter marks ``.ipynb`` files as documentation pages by wrapping them in its own File class;
mkdocs-static-i18n (which runs last, to pick each page's language) re-creates every file as a plain
``File``, which counts only ``.md`` as a page, so the notebooks were copied raw to ``index.html``.
Counting ``.ipynb`` as a page in MkDocs' File keeps both plugins' work: i18n picks ``x.es.ipynb`` for
/es/ (falling back to ``x.ipynb``), and mkdocs-jupyter renders it (it checks the extension itself).
"""
import re

from mkdocs.structure.files import File

_is_page = File.is_documentation_page


def _is_page_or_notebook(self: File) -> bool:
    return self.src_uri.endswith(".ipynb") or _is_page(self)


File.is_documentation_page = _is_page_or_notebook  # type: ignore[method-assign]


# mkdocs-static-i18n writes per-page <link rel="alternate" hreflang> tags into <head>; Material's JS
# then fetches "sitemap.xml" relative to each of them (it expects language roots), which 404s on every
# page and logs console errors. The language switch in the header (<a hreflang>) is kept.
_HEAD_ALTERNATE = re.compile(r'<link rel="alternate" href="[^"]*" hreflang="[^"]*">\n?')


def on_post_page(output: str, page, config) -> str:
    return _HEAD_ALTERNATE.sub("", output)
