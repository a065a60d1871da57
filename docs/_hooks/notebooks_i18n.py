"""MkDocs hook: let mkdocs-static-i18n treat notebooks as pages.

mkdocs-jupyter marks ``.ipynb`` files as documentation pages by wrapping them in its own File class;
mkdocs-static-i18n (which runs last, to pick each page's language) re-creates every file as a plain
``File``, which counts only ``.md`` as a page, so the notebooks were copied raw to ``index.html``.
Counting ``.ipynb`` as a page in MkDocs' File keeps both plugins' work: i18n picks ``x.es.ipynb`` for
/es/ (falling back to ``x.ipynb``), and mkdocs-jupyter renders it (it checks the extension itself).
"""
from mkdocs.structure.files import File

_is_page = File.is_documentation_page


def _is_page_or_notebook(self: File) -> bool:
    return self.src_uri.endswith(".ipynb") or _is_page(self)


File.is_documentation_page = _is_page_or_notebook  # type: ignore[method-assign]
