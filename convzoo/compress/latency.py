"""Measured latency on an engine: the per-layer dense-vs-factorised table and the whole-model times
that ``compress(..., engine=...)`` reports.

Engines: ``"eager"`` (PyTorch, no_grad, eval) and ``"onnxruntime"`` (the module exported with
:func:`convzoo.export.to_onnx` and run by :func:`convzoo.export.ort_session`, as many intra-op threads
as PyTorch uses). Times are medians of interleaved rounds (:func:`convzoo.analysis.interleaved_medians`),
so a burst of load on a shared machine hits the dense and the factorised form alike.
Shape: every runner takes the fixed input it was made with, (1, C, *S).
"""
from __future__ import annotations

import os
import tempfile
from typing import Callable

import torch
from torch import nn

from ..analysis.timing import interleaved_medians

ENGINES = ("eager", "onnxruntime")


def check_engine(engine) -> None:
    if engine is not None and engine not in ENGINES:
        raise ValueError(f"engine must be None (speed-up over MACs) or one of {', '.join(ENGINES)}, got {engine!r}")


def runner(module: nn.Module, x: torch.Tensor, engine: str, workdir: str) -> Callable[[], object]:
    """A no-argument callable running ``module`` on ``x`` with ``engine``."""
    module = module.eval()
    if engine == "eager":
        def run():
            with torch.no_grad():
                return module(x)
        return run
    from ..export import ort_session, to_onnx
    path = os.path.join(workdir, f"m{len(os.listdir(workdir))}.onnx")
    to_onnx(module, path, dynamic_batch=False, input_size=tuple(x.shape[1:]), batch=x.shape[0], fold_bn=False)
    sess = ort_session(path, threads=torch.get_num_threads())
    feed = {sess.get_inputs()[0].name: x.detach().cpu().numpy()}
    return lambda: sess.run(None, feed)


def compare_ms(modules: dict, x: torch.Tensor, engine: str, *, runs: int = 24, rounds: int = 4) -> dict:
    """Median milliseconds per call of each module in ``modules`` (name -> module), interleaved."""
    with tempfile.TemporaryDirectory() as d:
        fns = {k: runner(m, x, engine, d) for k, m in modules.items()}
        med = interleaved_medians(fns, warmup=3, runs=runs, rounds=rounds, settle_s=0.0)
    return {k: v * 1e3 for k, v in med.items()}
