"""Wall-clock timing of calls: the one loop behind every latency and throughput convzoo reports
(training reports, ``convzoo compare``, ``convzoo bench``, the scaling study, bench/deploy.py).

Medians, not means: on a shared machine a few calls hit by other processes would drag a mean; the
median of many calls does not move with them. When several engines or models are compared,
:func:`interleaved_medians` times them in alternating rounds so a burst of load hits all alike.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable, Optional


def time_calls(fn: Callable[[], object], *, warmup: int = 5, runs: int = 20,
               sync: Optional[Callable[[], None]] = None) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then return the seconds each of ``runs`` calls took.

    ``sync`` (e.g. ``torch.cuda.synchronize``) runs after the warm-up and inside each timed call,
    so asynchronous devices are timed to completion."""
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    for _ in range(warmup):
        fn()
    if sync is not None:
        sync()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        times.append(time.perf_counter() - t0)
    return times


def median_ms(fn: Callable[[], object], *, warmup: int = 5, runs: int = 20,
              sync: Optional[Callable[[], None]] = None) -> float:
    """Median milliseconds per call of :func:`time_calls`."""
    return float(statistics.median(time_calls(fn, warmup=warmup, runs=runs, sync=sync))) * 1e3


def interleaved_times(fns: dict, *, warmup: int = 5, runs: int = 40, rounds: int = 8,
                      settle_s: float = 0.05) -> dict:
    """Seconds of every timed call of each callable in ``fns`` (name -> no-argument callable), per
    round: ``{name: [[round 0 calls], [round 1 calls], ...]}``. ``rounds`` interleaved rounds of
    ``runs / rounds`` calls each, so that a burst of load from other processes hits all of them.

    The order rotates from round to round (no callable always follows the same one). Before each
    block: a ``settle_s`` pause, so the previous engine's worker threads stop spinning (OpenMP and
    ONNX Runtime both spin a while after a parallel region), then one untimed call."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[list[float]]] = {k: [] for k in fns}
    per = max(1, runs // rounds)
    names = list(fns)
    for r in range(rounds):
        for k in names[r % len(names):] + names[:r % len(names)]:
            if settle_s > 0:
                time.sleep(settle_s)
            times[k].append(time_calls(fns[k], warmup=1, runs=per))
    return times


def interleaved_medians(fns: dict, *, warmup: int = 5, runs: int = 40, rounds: int = 8,
                        settle_s: float = 0.05) -> dict:
    """Median seconds per call of each callable in ``fns``, over all rounds of
    :func:`interleaved_times` (same arguments)."""
    return pooled_medians(interleaved_times(fns, warmup=warmup, runs=runs, rounds=rounds, settle_s=settle_s))


def pooled_medians(times: dict) -> dict:
    """Median seconds per call of each callable over all rounds of :func:`interleaved_times`'s result."""
    return {k: float(statistics.median([t for r in v for t in r])) for k, v in times.items()}


def round_ratios(times: dict, ref: str) -> dict:
    """Speed of each callable relative to ``ref``, round by round, from :func:`interleaved_times`:
    ``{name: [ref's median time / its median time, one per round]}`` (> 1: faster than ``ref``).

    Each ratio compares calls made seconds apart, so their spread over the rounds shows how far the
    machine's background load moves a ratio within one run."""
    if ref not in times:
        raise KeyError(f"reference {ref!r} is not among the timed callables: {', '.join(times)}")
    ref_med = [statistics.median(r) for r in times[ref]]
    return {k: [m / statistics.median(r) for m, r in zip(ref_med, v)] for k, v in times.items()}
