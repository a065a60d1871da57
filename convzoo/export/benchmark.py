"""Latency, throughput and peak memory of a model under an engine (eager, compile, onnxruntime).

Timing: ``warmup`` untimed calls, then ``runs`` timed calls; latency is the *median* call time (robust
to the other processes on a shared machine), throughput = batch / median latency.

Peak memory, honestly defined per device:
* CUDA: ``torch.cuda.max_memory_allocated`` during the timed runs, minus what was allocated before.
* CPU: the process's resident-set high-water mark during the timed runs (Linux ``VmHWM``, reset
  through ``/proc/self/clear_refs``) minus the resident set before them. This counts everything the
  process touched (PyTorch, ONNX Runtime arenas, allocator slack), not only tensors; where the reset
  is not allowed, it is ``None`` rather than a guess.
"""
from __future__ import annotations

import os
import re
import shutil
import statistics
import tempfile
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from ..analysis.timing import time_calls

ENGINES = ("eager", "compile", "onednn", "onnxruntime", "openvino")


@dataclass(frozen=True)
class BenchResult:
    engine: str
    batch: int
    input_size: tuple
    latency_ms: float          # median
    latency_p90_ms: float
    throughput: float          # samples / s
    peak_memory_mb: Optional[float]
    runs: int
    latency_q1_ms: Optional[float] = None     # quartiles of the timed calls: their spread
    latency_q3_ms: Optional[float] = None
    precision: str = "fp32"

    def as_dict(self) -> dict:
        return asdict(self)


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"{key}:\s+(\d+)", f.read()).group(1))


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _time_with_peak_memory(fn: Callable[[], object], *, warmup: int, runs: int,
                           sync: Callable[[], None] = lambda: None,
                           device: str = "cpu") -> tuple[list[float], Optional[float]]:
    """Call ``fn`` ``warmup`` times, then time ``runs`` calls (:func:`convzoo.analysis.timing.time_calls`)
    and measure the peak memory they add. Returns (seconds per call, peak MB). The warm-up stays
    here, not in ``time_calls``: the memory baseline must be taken between warm-up and timing."""
    for _ in range(warmup):
        fn()
    sync()
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        ok = _reset_peak_rss()
        base = _status_kb("VmRSS") if ok else None
    times = time_calls(fn, warmup=0, runs=runs, sync=sync)
    if cuda:
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = (_status_kb("VmHWM") - base) / 1024 if base is not None else None
    return times, peak


def make_runner(model: nn.Module, x: torch.Tensor, engine: str = "eager", *, channels_last: bool = False,
                fold_bn: bool = False, amp: bool = False, ort_threads: int = 0,
                onnx_path: Optional[str] = None, precision: str = "fp32",
                calibration_data=None) -> Callable[[], object]:
    """A no-argument callable running one inference batch ``x`` through ``model`` with ``engine``.

    ``precision``: "fp32", "bf16" (PyTorch engines: bf16 weights; openvino: its bf16 execution) or
    "int8" (eager/compile: PT2E; openvino: NNCF), calibrated on ``calibration_data`` or, for speed
    alone, on random inputs shaped like ``x``. A :class:`~convzoo.export.QuantizedModel` runs as it is."""
    from .onnx import ort_session, to_onnx
    from .optimize import optimize

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "openvino" or precision == "int8" or hasattr(model, "ov_model"):
        return _reduced_runner(model, x, engine, precision, ort_threads, calibration_data)
    if precision != "fp32" and engine == "onnxruntime":
        raise ValueError(f"the {engine} engine runs fp32; use eager, compile, onednn or openvino for {precision}")
    if engine == "onnxruntime":
        if amp:
            raise ValueError("--amp applies to the PyTorch engines; ONNX Runtime runs the float32 export")
        tmp = None if onnx_path else tempfile.mkdtemp(prefix="convzoo-bench-")
        path = onnx_path or os.path.join(tmp, "model.onnx")
        if onnx_path is None or not os.path.exists(onnx_path):
            to_onnx(model, path, input_size=tuple(x.shape[1:]), fold_bn=True, dynamic_batch=False,
                    batch=x.shape[0])
        try:
            sess = ort_session(path, threads=ort_threads)
        finally:
            if tmp:                 # the session holds the graph; no file left behind in /tmp
                shutil.rmtree(tmp, ignore_errors=True)
        name = sess.get_inputs()[0].name
        feed = {name: x.cpu().numpy().astype(np.float32)}
        return lambda: sess.run(None, feed)
    # optimize's compile defaults are the fast ones: inductor freezing (weights pre-packed for
    # oneDNN on CPU) and, on CPU, cpp_wrapper (kernels launched from C++, no Python per op)
    if engine == "onednn" and (x.device.type != "cpu" or amp):
        raise ValueError("the onednn engine (TorchScript + oneDNN Graph) runs on the CPU, without --amp "
                         "(use --precision bf16)")
    compile = {"compile": True, "onednn": "onednn"}.get(engine, False)
    m = optimize(model, fold_bn=fold_bn or precision != "fp32", channels_last=channels_last,
                 compile=compile, example_input=x if engine == "onednn" else x[:1], precision=precision)
    dev = x.device.type
    autocast = (torch.autocast(dev, dtype=torch.bfloat16 if dev == "cpu" else torch.float16)
                if amp else nullcontext())

    def run():
        with torch.inference_mode(), autocast:
            return m(x)
    return run


def _reduced_runner(model, x, engine, precision, threads, calibration_data):
    """OpenVINO at any precision, and int8 under any engine (see :func:`make_runner`)."""
    from .openvino import OpenVINOModule, to_openvino_model
    from .quantize import quantize
    if x.device.type != "cpu":
        raise ValueError(f"{engine} at {precision} runs on the CPU")
    if hasattr(model, "ov_model") or hasattr(model, "runner"):        # already int8
        m = model
    elif precision == "int8":
        if engine not in ("openvino", "compile"):
            raise ValueError("int8 runs under --engine openvino (NNCF) or compile (PT2E)")
        calib = calibration_data if calibration_data is not None else torch.randn(32, *x.shape[1:])
        m = quantize(model, calib, backend="openvino" if engine == "openvino" else "pt2e",
                     subset_size=32, threads=threads or None)
    else:
        ov_model = to_openvino_model(model, x[:1])
        m = OpenVINOModule(ov_model, threads=threads or None, precision=precision)
    xc = x.cpu()

    def run():
        with torch.inference_mode():
            return m(xc)
    return run


def benchmark(model: nn.Module, x: torch.Tensor, engine: str = "eager", *, warmup: int = 5, runs: int = 20,
              **runner_kw) -> BenchResult:
    """Measure ``model`` on batch ``x`` with ``engine``; see the module docstring for definitions."""
    if runs < 1 or warmup < 0:
        raise ValueError(f"need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    fn = make_runner(model, x, engine, **runner_kw)
    dev = x.device.type
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    times, peak = _time_with_peak_memory(fn, warmup=max(warmup, 1 if engine == "compile" else 0),
                                         runs=runs, sync=sync, device=dev)
    med = statistics.median(times)
    p90 = float(np.percentile(times, 90))
    q1, q3 = (float(v) * 1e3 for v in np.percentile(times, [25, 75]))
    return BenchResult(engine, int(x.shape[0]), tuple(x.shape[1:]), med * 1e3, p90 * 1e3,
                       x.shape[0] / med, None if peak is None else round(peak, 1), runs, q1, q3,
                       runner_kw.get("precision", "fp32"))
