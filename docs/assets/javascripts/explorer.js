// Convolution explorer: output size, parameters, MACs and receptive field of one conv layer, and its
// input/output grid drawn and animated in SVG. Plain JS, no server, no CDN.
// The formulas are convzoo.analysis's (tests/test_site.py checks this page against it):
//   forward     o  = floor((i + 2p - (k - 1) d - 1) / s) + 1                 (Dumoulin & Visin, Rel. 15)
//   transposed  o' = s (i - 1) + a + (k - 1) d + 1 - 2p,  a < max(s, d)       (Rel. 14, PyTorch's rule)
//   params      C_out (C_in / g) k^n (+ C_out bias); transposed C_in (C_out / g) k^n (+ C_out)
//   MACs        C_out prod(o) (C_in / g) k^n;       transposed C_in prod(i) (C_out / g) k^n
//   receptive field of the layer: (k - 1) d + 1 (none for a transposed conv, as convzoo.analysis)
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";

  function compute(c) {
    var n = c.dims, k = c.kernel, s = c.stride, p = c.padding, d = c.dilation, g = c.groups;
    var err = null, out = null;
    if ([c.size, k, s, d, g, c.cin, c.cout].some(function (v) { return !(v >= 1); }) || p < 0 || c.outpad < 0) {
      err = "bad";
    } else if (c.cin % g || c.cout % g) {
      err = "groups";
    } else if (c.transposed) {
      if (c.outpad >= Math.max(s, d)) err = "outpad";
      else {
        out = s * (c.size - 1) + c.outpad + (k - 1) * d + 1 - 2 * p;
        if (out < 1) err = "empty";
      }
    } else if (c.size + 2 * p < (k - 1) * d + 1) {
      err = "kernel";
    } else {
      out = Math.floor((c.size + 2 * p - (k - 1) * d - 1) / s) + 1;
    }
    if (err) return { error: err };
    var taps = Math.pow(k, n);
    var params = c.transposed ? c.cin * (c.cout / g) * taps : c.cout * (c.cin / g) * taps;
    if (c.bias) params += c.cout;
    var macs = c.transposed ? c.cin * Math.pow(c.size, n) * (c.cout / g) * taps
                            : c.cout * Math.pow(out, n) * (c.cin / g) * taps;
    return { out: out, params: params, macs: macs, rf: c.transposed ? null : (k - 1) * d + 1, error: null };
  }

  function fmt(v) { return v.toLocaleString("en-US"); }

  // The page's own limits: each number field's min and max (and whole numbers only). A value outside
  // them (a size of 1000 typed over the max of 512) is refused with a message, never computed or drawn.
  // fields: [{label, value (the field's text), min, max}] -> the first field out of range, or null.
  function outOfRange(fields) {
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i], text = String(f.value).trim(), v = Number(text);
      var lo = f.min === "" || f.min == null ? -Infinity : Number(f.min);
      var hi = f.max === "" || f.max == null ? Infinity : Number(f.max);
      if (text === "" || !Number.isInteger(v) || v < lo || v > hi) return f;
    }
    return null;
  }

  function numberFields(root) {
    return Array.prototype.map.call(root.querySelectorAll("input[type=number]"), function (inp) {
      var label = inp.closest("label");
      return { label: (label ? label.textContent : inp.name).trim(), value: inp.value, min: inp.min, max: inp.max,
               input: inp };
    });
  }

  function read(root) {
    var q = function (name) { return root.querySelector("[name=" + name + "]"); };
    var num = function (name) { return parseInt(q(name).value, 10); };
    return { dims: num("dims"), size: num("size"), cin: num("cin"), cout: num("cout"), kernel: num("kernel"),
             stride: num("stride"), padding: num("padding"), dilation: num("dilation"), groups: num("groups"),
             outpad: num("outpad"), transposed: q("transposed").checked, bias: q("bias").checked };
  }

  function el(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    for (var a in attrs) e.setAttribute(a, attrs[a]);
    if (parent) parent.appendChild(e);
    return e;
  }

  // The grids: a 1D row, or a 2D map (one depth slice in 3D), input left (padding lighter), output
  // right; the animation walks the output and marks the input taps (forward) or, transposed, walks
  // the input and marks where each element's kernel copy lands in the output.
  function draw(root, c, r) {
    var svg = root.querySelector("svg.explorer-grid");
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (root._timer) { clearInterval(root._timer); root._timer = null; }
    if (r.error) return;
    var cap = 16, rows2d = c.dims > 1;
    var inN = c.transposed ? c.size : c.size + 2 * c.padding, outN = r.out;
    var shownIn = Math.min(inN, cap), shownOut = Math.min(outN, cap);
    var cell = Math.max(8, Math.min(22, Math.floor(300 / Math.max(shownIn, shownOut))));
    var inRows = rows2d ? shownIn : 1, outRows = rows2d ? shownOut : 1;
    var x0 = 10, x1 = x0 + shownIn * cell + 60, y0 = 30;
    var w = x1 + shownOut * cell + 10, h = y0 + Math.max(inRows, outRows) * cell + 10;
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.setAttribute("width", w);
    svg.setAttribute("height", h);
    var labels = root.dataset;
    el("text", { x: x0, y: 18, class: "explorer-label" }, svg).textContent = labels.labelInput + (inN > cap ? " (" + cap + "/" + inN + ")" : "");
    el("text", { x: x1, y: 18, class: "explorer-label" }, svg).textContent = labels.labelOutput + (outN > cap ? " (" + cap + "/" + outN + ")" : "");
    var inCells = [], outCells = [];
    for (var y = 0; y < inRows; y++) for (var x = 0; x < shownIn; x++) {
      var pad = !c.transposed && (x < c.padding || x >= c.size + c.padding || (rows2d && (y < c.padding || y >= c.size + c.padding)));
      inCells.push(el("rect", { x: x0 + x * cell, y: y0 + y * cell, width: cell - 1, height: cell - 1,
                                class: pad ? "explorer-pad" : "explorer-in" }, svg));
    }
    for (y = 0; y < outRows; y++) for (x = 0; x < shownOut; x++) {
      outCells.push(el("rect", { x: x1 + x * cell, y: y0 + y * cell, width: cell - 1, height: cell - 1, class: "explorer-out" }, svg));
    }
    var step = 0;
    function mark(cells, idx, cls) { cells.forEach(function (e, i) { e.classList.toggle(cls, idx.indexOf(i) >= 0); }); }
    function tick() {
      var walkN = c.transposed ? Math.min(c.size, cap) : shownOut, rowsW = rows2d ? walkN : 1;
      var pos = step % (walkN * rowsW), py = Math.floor(pos / walkN), px = pos % walkN, hit = [], taps = [];
      for (var ky = 0; ky < (rows2d ? c.kernel : 1); ky++) for (var kx = 0; kx < c.kernel; kx++) {
        var ty, tx;
        if (c.transposed) { tx = px * c.stride + kx * c.dilation - c.padding; ty = py * c.stride + ky * c.dilation - c.padding; }
        else { tx = px * c.stride + kx * c.dilation; ty = py * c.stride + ky * c.dilation; }
        var w2 = c.transposed ? shownOut : shownIn, h2 = c.transposed ? outRows : inRows;
        if (tx >= 0 && tx < w2 && ty >= 0 && ty < h2) taps.push(ty * w2 + tx);
      }
      hit.push(py * walkN + px);
      if (c.transposed) { mark(inCells, hit, "explorer-active"); mark(outCells, taps, "explorer-tap"); }
      else { mark(outCells, hit, "explorer-active"); mark(inCells, taps, "explorer-tap"); }
      step++;
    }
    tick();
    if (!root.querySelector("[name=animate]") || root.querySelector("[name=animate]").checked) root._timer = setInterval(tick, 500);
  }

  function update(root) {
    var box = function (id) { return root.querySelector("[data-out=" + id + "]"); };
    var errBox = box("error"), fields = numberFields(root), bad = outOfRange(fields);
    fields.forEach(function (f) { f.input.setAttribute("aria-invalid", f === bad ? "true" : "false"); });
    if (bad) {
      ["size", "params", "macs", "rf"].forEach(function (id) { box(id).textContent = "–"; });
      errBox.textContent = (root.dataset.errorRange || "{label}: {min} to {max}").replace("{label}", bad.label)
        .replace("{min}", bad.min).replace("{max}", bad.max);
      errBox.hidden = false;
      draw(root, read(root), { error: "range" });
      return;
    }
    var c = read(root), r = compute(c);
    if (r.error) {
      ["size", "params", "macs", "rf"].forEach(function (id) { box(id).textContent = "–"; });
      errBox.textContent = root.dataset["error" + r.error.charAt(0).toUpperCase() + r.error.slice(1)];
      errBox.hidden = false;
    } else {
      var axes = [];
      for (var i = 0; i < c.dims; i++) axes.push(r.out);
      box("size").textContent = axes.join(" × ");
      box("params").textContent = fmt(r.params);
      box("macs").textContent = fmt(r.macs);
      box("rf").textContent = r.rf === null ? "–" : fmt(r.rf);
      errBox.textContent = "";
      errBox.hidden = true;
    }
    draw(root, c, r);
  }

  function init() {
    document.querySelectorAll(".conv-explorer").forEach(function (root) {
      if (root._ready) return;
      root._ready = true;
      root.addEventListener("input", function () { update(root); });
      root.addEventListener("change", function () { update(root); });
      update(root);
    });
  }
  window.convExplorer = { compute: compute, update: update, outOfRange: outOfRange };
  if (typeof document$ !== "undefined") document$.subscribe(init);
  else document.addEventListener("DOMContentLoaded", init);
})();
