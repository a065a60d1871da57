"""Measured latency on an engine: the timings ``compress(..., speedup=S)`` searches with, the per-layer
dense-vs-factorised table and the whole-model times with their spread that the report gives.

Engines (:func:`engines`, from the registry): those that run an exported ``.onnx`` file as it is
(``"onnxruntime"``, the default: the module exported with :func:`convzoo.export.to_onnx` and run by
:func:`convzoo.export.ort_session`), then the reference engine ``"eager"`` (PyTorch, no_grad, eval);
batch 1 and one intra-op thread unless told otherwise (``threads=``). ``deploy`` picks its engine by
measuring every one, which is too slow inside a rank search, so the default is fixed and named in every
report. Times come from interleaved rounds (:func:`convzoo.analysis.timing.interleaved_times`), so a
burst of load on a shared machine hits the dense and the factorised form alike; the median and
quartiles pool every call.
Shape: every runner takes the fixed input it was made with, (1, C, *S).
"""
from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
from typing import Callable, Optional

import torch
from torch import nn

from ..analysis.timing import interleaved_medians, interleaved_times, round_ratios

DEFAULT_THREADS = 1
RUNS, ROUNDS = 60, 6                      # calls per module, in this many interleaved rounds

# A timer: (modules {name: nn.Module}, input) -> {name: {"median_ms", "q1_ms", "q3_ms"}}, plus, for
# pairs, "ratio_q1"/"ratio_q3" under the key "ratio" (see :func:`compare_stats`). Tests inject a fake.
Timer = Callable[[dict, torch.Tensor], dict]


def engines() -> tuple:
    """The engines compress times on, the default first: each registered engine that runs an exported
    ``.onnx`` file as it is (ONNX Runtime), then the reference engine (eager PyTorch)."""
    from ..export.engines import DEFAULT, REGISTRY
    return tuple(n for n, e in REGISTRY.items() if e.reads_onnx) + (DEFAULT,)


def default_engine() -> str:
    return engines()[0]


def check_engine(engine) -> None:
    names = engines()
    if engine is not None and engine not in names:
        raise ValueError(f"engine must be None (the default, {names[0]}) or one of {', '.join(names)}, "
                         f"got {engine!r}")


def resolve_engine(engine: Optional[str]) -> tuple[str, Optional[str]]:
    """(the engine to measure on, a note when the default had to fall back): ONNX Runtime unless it is
    not installed, then eager PyTorch."""
    from ..export.engines import DEFAULT, get_engine
    check_engine(engine)
    if engine is not None:
        return engine, None
    missing = get_engine(default_engine()).missing()
    if missing:
        return DEFAULT, f"{missing}: measured on {DEFAULT} PyTorch"
    return default_engine(), None


@contextlib.contextmanager
def _threads(n: Optional[int]):
    was = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(was)


def runner(module: nn.Module, x: torch.Tensor, engine: str, workdir: str) -> Callable[[], object]:
    """A no-argument callable running ``module`` on ``x`` with ``engine`` (ONNX Runtime with as many
    intra-op threads as PyTorch has at the call)."""
    from ..export.engines import get_engine
    module = module.eval()
    if not get_engine(engine).reads_onnx:         # the reference engine: PyTorch as it is
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


def compare_ms(modules: dict, x: torch.Tensor, engine: str, *, runs: int = 24, rounds: int = 4,
               threads: Optional[int] = None) -> dict:
    """Median milliseconds per call of each module in ``modules`` (name -> module), interleaved."""
    with _threads(threads), tempfile.TemporaryDirectory() as d:
        fns = {k: runner(m, x, engine, d) for k, m in modules.items()}
        med = interleaved_medians(fns, warmup=3, runs=runs, rounds=rounds, settle_s=0.0)
    return {k: v * 1e3 for k, v in med.items()}


def compare_stats(modules: dict, x: torch.Tensor, engine: Optional[str] = None, *, runs: int = RUNS,
                  rounds: int = ROUNDS, threads: Optional[int] = DEFAULT_THREADS) -> dict:
    """Per module: ``median_ms``, ``q1_ms``, ``q3_ms`` over all interleaved calls; with two modules also
    ``"ratio"``: the first's time over the second's, per round (median and quartiles over the rounds:
    how far background load moved the speed-up within this measurement). ``engine``: default
    :func:`default_engine`."""
    engine = engine or default_engine()
    with _threads(threads), tempfile.TemporaryDirectory() as d:
        fns = {k: runner(m, x, engine, d) for k, m in modules.items()}
        times = interleaved_times(fns, warmup=3, runs=runs, rounds=rounds, settle_s=0.0)
    out: dict = {}
    for k, v in times.items():
        q1, med, q3 = quartiles([t for r in v for t in r])
        out[k] = {"median_ms": med * 1e3, "q1_ms": q1 * 1e3, "q3_ms": q3 * 1e3}
    if len(modules) == 2:
        first, second = modules
        per_round = round_ratios(times, first)[second]               # first's time / second's, per round
        q1, med, q3 = quartiles(per_round)
        out["ratio"] = {"median": med, "q1": q1, "q3": q3, "rounds": len(per_round)}
    return out


def quartiles(xs: list) -> tuple[float, float, float]:
    """(first quartile, median, third quartile), linearly interpolated (all three equal for one value)."""
    if len(xs) < 2:
        return (float(xs[0]),) * 3
    q1, med, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return q1, med, q3
