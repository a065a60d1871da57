// Click a figure (.cz-figure, docs/_hooks/figures.py) to see it enlarged over the page: the window's width
// or 1.5x its own size, whichever is larger, scrolling inside the overlay; a click or Escape closes it.
(function () {
  function close(box) { box.remove(); document.removeEventListener("keydown", box._key); }
  function open(link) {
    var box = document.createElement("div");
    box.className = "cz-lightbox";
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-label", link.querySelector("img").alt || "figure");
    var img = document.createElement("img");
    img.src = link.getAttribute("href");
    img.alt = link.querySelector("img").alt;
    // enlarged: the window's width, or 1.5x the figure's own size where that is larger (a phone)
    var shown = link.querySelector("img");
    img.style.width = Math.max(window.innerWidth - 32, 1.5 * (shown.naturalWidth || 0)) + "px";
    box.appendChild(img);
    box.addEventListener("click", function () { close(box); });
    box._key = function (e) { if (e.key === "Escape") close(box); };
    document.addEventListener("keydown", box._key);
    document.body.appendChild(box);
  }
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("a.cz-figure");
    if (!link || e.ctrlKey || e.metaKey || e.shiftKey) return;
    e.preventDefault();
    open(link);
  });
})();
