// Render the math that pymdownx.arithmatex (generic mode) leaves in .arithmatex elements, and the
// $...$ in notebook markdown cells (mkdocs-jupyter: .jp-RenderedMarkdown), with the KaTeX served here.
(function () {
  function render(root) {
    if (typeof renderMathInElement !== "function") return;
    root.querySelectorAll(".arithmatex, .jp-RenderedMarkdown").forEach(function (el) {
      renderMathInElement(el, {
        delimiters: [
          { left: "\\[", right: "\\]", display: true },
          { left: "\\(", right: "\\)", display: false },
          { left: "$$", right: "$$", display: true },
          { left: "$", right: "$", display: false },
        ],
        throwOnError: false,
      });
    });
  }
  if (typeof document$ !== "undefined") document$.subscribe(function () { render(document.body); });
  else document.addEventListener("DOMContentLoaded", function () { render(document.body); });
})();
