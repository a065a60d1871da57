"""Wall-clock timing of calls: the one loop behind every latency and throughput convzoo reports
(training reports, ``convzoo compare``, ``convzoo bench``, the scaling study, bench/deploy.py);
:func:`stable_times` is the one settle loop (outliers re-measured, repeats while the spread is wide)
behind ``bench`` and ``deploy``.

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


# --------------------------------------------------------------------------- stable measurements

# A timing whose interquartile range is above this fraction of its median is reported as unstable.
STABLE_SPREAD = 0.10
# A call slower than median + OUTLIER_IQR x IQR (and 1.5x the median) is an outlier: another process
# held the core; it is flagged, dropped and replaced by a fresh call.
OUTLIER_IQR = 3.0


def measurement_setup(threads: Optional[int] = None) -> dict:
    """Set PyTorch's intra-op thread count (when ``threads`` is given) and return what the timings
    are measured with: ``{"threads": n, "omp_wait_policy": value}``, printed beside every table.

    The OpenMP wait policy is read once, when OpenMP starts (at ``import torch``): with the default
    (ACTIVE) idle workers spin, and on a machine where other processes compete for the cores a
    spinning thread that loses its core stalls every parallel region (``bench mobilenet_v2 --engine
    onednn`` on a loaded 2-core machine: 424 ms/image, 15 ms with PASSIVE). ``convzoo bench`` and
    ``convzoo deploy`` therefore restart themselves once with ``OMP_WAIT_POLICY=PASSIVE`` when the
    environment names no policy (:func:`passive_wait_policy`); a library caller sets it in the
    environment before importing torch."""
    import os

    import torch
    if threads is not None:
        torch.set_num_threads(int(threads))
    return {"threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY") or "unset (OpenMP default: ACTIVE, spinning)"}


def passive_wait_policy(argv: Optional[list] = None) -> None:
    """When this process is the ``convzoo`` command (not a library call, not a test) and the
    environment names no ``OMP_WAIT_POLICY``: restart it with ``OMP_WAIT_POLICY=PASSIVE`` (which must
    be set before torch starts OpenMP). ``OMP_WAIT_POLICY=ACTIVE`` in the environment keeps spinning."""
    import os
    import sys
    prog = sys.argv[0].replace(os.sep, "/") if sys.argv else ""
    is_cli = prog.endswith("/convzoo") or prog == "convzoo" or prog.endswith("convzoo/__main__.py")
    if "OMP_WAIT_POLICY" in os.environ or not is_cli or "pytest" in sys.modules:
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "convzoo", *(argv if argv is not None else sys.argv[1:])])


def _quartiles(xs: list) -> tuple:
    s = sorted(xs)

    def q(f):
        i = f * (len(s) - 1)
        lo = int(i)
        return s[lo] + (s[min(lo + 1, len(s) - 1)] - s[lo]) * (i - lo)
    return q(0.25), q(0.5), q(0.75)


def drop_outliers(times: list) -> tuple[list, int]:
    """(times without the outliers, how many were dropped); see :data:`OUTLIER_IQR`."""
    q1, med, q3 = _quartiles(times)
    cut = max(med + OUTLIER_IQR * (q3 - q1), 1.5 * med)
    kept = [t for t in times if t <= cut]
    return kept, len(times) - len(kept)


def stable_times(fns: dict, *, warmup: int = 3, runs: int = 24, rounds: int = 6,
                 max_repeats: int = 3, spread: float = STABLE_SPREAD, settle_s: float = 0.05,
                 keep_times: bool = False) -> dict:
    """Interleaved timings (:func:`interleaved_times`) repeated until each callable's spread is
    stable, with outliers flagged and re-measured. Returns, per name: ``median_s``, ``q1_s``,
    ``q3_s``, ``spread`` (IQR / median), ``outliers`` (calls dropped and re-measured),
    ``repeats`` and ``stable`` (False: still above ``spread`` after ``max_repeats`` measurements;
    callers print the timing with a mark and keep it out of rewards); with ``keep_times``, also
    ``times``: the pooled seconds of every call the statistics are taken over.

    Each repeat adds a full set of interleaved rounds to the pool; outliers are dropped from the pool
    and each replaced by a fresh call of the same callable."""
    pool: dict[str, list[float]] = {k: [] for k in fns}
    dropped = {k: 0 for k in fns}
    stats: dict = {}
    for rep in range(1, max_repeats + 1):
        times = interleaved_times(fns, warmup=warmup if rep == 1 else 1, runs=runs, rounds=rounds,
                                  settle_s=settle_s)
        for k, v in times.items():
            pool[k].extend(t for r in v for t in r)
            for _ in range(3):                       # re-measure what was dropped, a few passes at most
                pool[k], n = drop_outliers(pool[k])
                dropped[k] += n
                if not n:
                    break
                pool[k].extend(time_calls(fns[k], warmup=0, runs=n))
        for k, v in pool.items():
            q1, med, q3 = _quartiles(v)
            stats[k] = dict(median_s=med, q1_s=q1, q3_s=q3, spread=(q3 - q1) / med if med > 0 else 0.0,
                            outliers=dropped[k], repeats=rep, calls=len(v))
            stats[k]["stable"] = stats[k]["spread"] <= spread
            if keep_times:
                stats[k]["times"] = list(v)
        if all(s["stable"] for s in stats.values()):
            break
    return stats


def mark(stat: dict) -> str:
    """"" for a stable timing, "~" for one :func:`stable_times` could not make stable (print it beside
    the number; keep such a timing out of rewards)."""
    return "" if stat.get("stable", True) else "~"
