"""ONNX Runtime (CPU execution provider, fp32) on convzoo's export (:mod:`convzoo.export.onnx`),
with the graph rewrites that keep ORT's NCHWc layout pass blocked (:mod:`convzoo.export.ort_rewrites`)."""
from __future__ import annotations

import os
import shutil
import tempfile

from ..onnx import OrtRunner, to_onnx
from ._base import Engine


def build(model, example_input, precision: str = "fp32", *, fold_bn: bool = True,
          channels_last: bool = True, threads=None, **options) -> OrtRunner:
    """Export at ``example_input``'s shape (static batch: the layout rewrites apply fully) into a
    temporary folder, removed before returning; the runner keeps the graph's bytes."""
    if precision != "fp32":
        raise ValueError(f"the onnxruntime engine runs fp32; use eager, compile, onednn or openvino for {precision}")
    if options:
        raise ValueError(f"the onnxruntime engine takes no options {sorted(options)}")
    tmp = tempfile.mkdtemp(prefix="convzoo-ort-")
    try:
        path = os.path.join(tmp, "model.onnx")
        to_onnx(model, path, input_size=tuple(example_input.shape[1:]), fold_bn=True,
                dynamic_batch=False, batch=example_input.shape[0])
        with open(path, "rb") as f:
            graph = f.read()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return OrtRunner(graph, threads=threads or 0)


ENGINE = Engine("onnxruntime", "ONNX Runtime, CPU execution provider", {"cpu": ("fp32",)}, build,
                requires="onnxruntime", extra="export", folds_bn=True, reads_onnx=True, takes_threads=True)
