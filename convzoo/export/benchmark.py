"""Latency, throughput and peak memory of a model under an engine (eager, compile, onnxruntime).

Timing: ``warmup`` untimed calls, then ``runs`` timed calls through the one timing routine,
:func:`convzoo.analysis.timing.stable_times` (outliers re-measured, more calls pooled while the spread is
wide); latency is the *median* call time (robust to the other processes on a shared machine),
throughput = batch / median latency.

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
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from ..analysis.timing import stable_times
from .engines import DEFAULT, REGISTRY, get_engine, is_reference, list_engines
from .precision import check_precision
from .runner import Runner

ENGINES = tuple(list_engines())


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
    stable: Optional[bool] = None             # interquartile range within STABLE_SPREAD of the median
    outliers: int = 0                         # calls dropped as outliers and re-measured

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
                           device: str = "cpu") -> tuple[dict, Optional[float]]:
    """Call ``fn`` ``warmup`` times, then time it with :func:`convzoo.analysis.timing.stable_times`
    (``runs`` calls in one round; outliers re-measured; up to two more sets while the spread is above
    :data:`~convzoo.analysis.timing.STABLE_SPREAD`) and measure the peak memory those calls add.
    Returns (``stable_times``' stats of ``fn`` with its ``times``, peak MB). The warm-up stays here:
    the memory baseline must be taken between warm-up and timing."""
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

    def call():                      # each timed call runs to completion on an asynchronous device
        fn()
        sync()
    stats = stable_times({"fn": call}, warmup=0, runs=runs, rounds=1, max_repeats=3, settle_s=0.0,
                         keep_times=True)["fn"]
    if cuda:
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = (_status_kb("VmHWM") - base) / 1024 if base is not None else None
    return stats, peak


def make_runner(model: nn.Module, x: torch.Tensor, engine: str = DEFAULT, *, channels_last: bool = False,
                fold_bn: bool = False, amp: bool = False, ort_threads: int = 0,
                onnx_path: Optional[str] = None, precision: str = "fp32",
                calibration_data=None) -> Callable[[], object]:
    """A no-argument callable running one inference batch ``x`` through ``model`` with ``engine``
    (a name in :data:`ENGINES`, looked up in the registry :mod:`convzoo.export.engines`).

    ``precision``: "fp32", "bf16" (PyTorch engines: bf16 weights; openvino: its bf16 execution) or
    "int8" (compile: PT2E; openvino: NNCF), calibrated on ``calibration_data`` or, for speed
    alone, on random inputs shaped like ``x``. A :class:`~convzoo.export.Runner` (a loaded int8 or
    deployed model) runs as it is. ``fold_bn=False`` keeps BN only for the eager engine in fp32 (the
    reference form); every other engine runs the folded form."""
    from .onnx import ort_session
    if isinstance(model, Runner):
        host = model.engine in REGISTRY and REGISTRY[model.engine].host
        return model.bind(x.cpu() if host else x)
    eng = get_engine(engine)
    dev = x.device.type
    if not eng.supports(dev, precision):     # what the engine can do first, then what this CPU can
        ok = [n for n, e in REGISTRY.items() if e.supports(dev, precision)]
        raise ValueError(f"the {engine} engine runs {', '.join(eng.precisions.get(dev, ())) or 'nothing'} on "
                         f"{dev}; for {precision} use {' or '.join(ok) or 'another device'}")
    if eng.native_precision:
        check_precision(precision, dev)
    if amp and not eng.autocast:
        amp_engines = " and ".join(n for n, e in REGISTRY.items() if e.autocast)
        raise ValueError(f"--amp applies to the PyTorch engines {amp_engines}; the {engine} engine "
                         "runs on the CPU, without --amp (use --precision bf16)")
    if onnx_path is not None and eng.reads_onnx and os.path.exists(onnx_path):
        sess = ort_session(onnx_path, threads=ort_threads)
        feed = {sess.get_inputs()[0].name: x.cpu().numpy().astype(np.float32)}
        return lambda: sess.run(None, feed)
    opts: dict = {}
    if precision == "int8":
        calib = calibration_data if calibration_data is not None else torch.randn(32, *x.shape[1:])
        opts = dict(calibration_data=calib, subset_size=32)
    if eng.threads:
        opts["threads"] = ort_threads or None
    fold = fold_bn or precision != "fp32" or not is_reference(engine)
    runner = eng.build(model, x, precision, fold_bn=fold,
                       channels_last=channels_last, **opts)
    if eng.host or precision == "int8":
        return runner.bind(x)
    autocast = (torch.autocast(dev, dtype=torch.bfloat16 if dev == "cpu" else torch.float16)
                if amp else nullcontext())

    def run():
        with torch.inference_mode(), autocast:
            return runner(x)
    return run


def benchmark(model: nn.Module, x: torch.Tensor, engine: str = DEFAULT, *, warmup: int = 5, runs: int = 20,
              **runner_kw) -> BenchResult:
    """Measure ``model`` on batch ``x`` with ``engine``; see the module docstring for definitions."""
    if runs < 1 or warmup < 0:
        raise ValueError(f"need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    fn = make_runner(model, x, engine, **runner_kw)
    dev = x.device.type
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    least = REGISTRY[engine].warmup if engine in REGISTRY else 0     # compile: the first call compiles
    st, peak = _time_with_peak_memory(fn, warmup=max(warmup, least), runs=runs, sync=sync, device=dev)
    med, q1, q3 = st["median_s"], st["q1_s"] * 1e3, st["q3_s"] * 1e3
    p90 = float(np.percentile(st["times"], 90))
    stable, outliers = st["stable"], st["outliers"]
    return BenchResult(engine, int(x.shape[0]), tuple(x.shape[1:]), med * 1e3, p90 * 1e3,
                       x.shape[0] / med, None if peak is None else round(peak, 1), runs, q1, q3,
                       getattr(model, "precision", None) if isinstance(model, Runner) else
                       runner_kw.get("precision", "fp32"), stable, outliers)


def benchmark_all(model: nn.Module, x: torch.Tensor, *, device: str = "cpu", warmup: int = 5, runs: int = 20,
                  amp: bool = False, threads: Optional[int] = None, precision: str = "fp32") -> list[dict]:
    """``convzoo bench --engine all``: every engine the registry lists for ``device``, one after the
    other, the reference engine as it comes and the others with BN folded and channels_last (their fast
    form). One dict per engine (:meth:`BenchResult.as_dict`), or ``{"engine", "error"}`` with the one-line
    reason an engine cannot run the model (not installed, a precision it lacks, an op it cannot take)."""
    rows: list[dict] = []
    for engine in list_engines(device):          # the registry decides what "all" runs
        eng, fast = get_engine(engine), not is_reference(engine)
        missing = eng.missing()
        if missing:
            rows.append(dict(engine=engine, error=missing))
            continue
        try:
            res = benchmark(model, x, engine, warmup=warmup, runs=runs, channels_last=fast, fold_bn=fast,
                            amp=amp and eng.autocast, ort_threads=threads or torch.get_num_threads(),
                            precision=precision)
            rows.append(res.as_dict())
        except (RuntimeError, ValueError) as e:
            rows.append(dict(engine=engine, error=str(e).splitlines()[0]))
    return rows

