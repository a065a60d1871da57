"""MkDocs hook for the course notebooks' pages: under the title, a link to download the notebook
(mkdocs-jupyter's ``include_source`` copies it beside the page) and a line saying how to run it.

The Spanish pages (built from ``x.es.ipynb``) get the Spanish line and the Spanish notebook.
"""
import html
import os

_LINE = {
    "en": ('<a href="{href}" download>Download this notebook</a> (<code>{name}</code>). '
           "<strong>Run it:</strong> in a clone of convzoo, <code>make notebooks</code> opens JupyterLab on all "
           "ten; with convzoo installed (<code>pip install \"convzoo[figures]\" jupyterlab</code>), "
           "<code>jupyter lab {name}</code>."),
    "es": ('<a href="{href}" download>Descarga este cuaderno</a> (<code>{name}</code>). '
           "<strong>Ejecútalo:</strong> en un clon de convzoo, <code>make notebooks</code> abre JupyterLab con los "
           "diez; con convzoo instalado (<code>pip install \"convzoo[figures]\" jupyterlab</code>), "
           "<code>jupyter lab {name}</code>."),
}


def on_page_content(content: str, page, config, files) -> str:
    src = page.file.abs_src_path or ""
    if not src.endswith(".ipynb"):
        return content
    name = os.path.basename(src)
    lang = "es" if name.endswith(".es.ipynb") else "en"
    # the page is notebooks/<stem>/index.html and the notebook is copied into that folder
    line = f'<p class="nb-run">{_LINE[lang].format(href=html.escape(name), name=html.escape(name))}</p>'
    head = content.find("</h1>")
    if head < 0:
        return line + content
    return content[:head + 5] + line + content[head + 5:]
