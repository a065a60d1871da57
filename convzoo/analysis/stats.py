"""Summaries of repeated runs: mean with a Student-t confidence interval, Welch's t-test, Holm's step-down,
and the paired difference that decides a claim (one-sided bounds, non-inferiority).

Used wherever a result is trained with several seeds (``convzoo compare``, the video experiment): a
difference between two nets is reported as significant only when Welch's test (unequal variances,
Welch 1947) rejects equality after Holm's correction for the number of comparisons (Holm 1979).
Where two nets share their seeds (the same data order and initialisation stream), :func:`paired_diff`
takes the per-seed differences instead: a one-sided bound above ``-margin`` is a non-inferiority test
(the "at least as accurate" of a claim, e.g. Wellek 2010, ch. 2), one below 0 a test of "less accurate".
The t quantiles and tail probabilities are SciPy's (``scipy.stats.t``).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence
from .._extras import require


@dataclass(frozen=True)
class MeanCI:
    """Mean of ``n`` values with the two-sided ``level`` t-interval [lo, hi] (``half`` = hi - mean)."""
    mean: float
    lo: float
    hi: float
    half: float
    sd: float
    n: int
    level: float = 0.95

    def overlaps(self, other: "MeanCI") -> bool:
        return self.lo <= other.hi and other.lo <= self.hi

    def as_dict(self) -> dict:
        return dict(mean=self.mean, lo=self.lo, hi=self.hi, half=self.half, sd=self.sd, n=self.n,
                    level=self.level)


def mean_ci(values: Sequence[float], level: float = 0.95) -> MeanCI:
    """Mean and t-interval: mean +- t_{(1+level)/2, n-1} * sd / sqrt(n) (sd with n - 1). n = 1: [mean, mean]."""
    student_t = require("scipy.stats", "data", "confidence intervals").t
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("mean_ci needs at least one value, got none")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    m = statistics.fmean(vals)
    if len(vals) == 1:
        return MeanCI(m, m, m, 0.0, 0.0, 1, level)
    sd = statistics.stdev(vals)
    half = float(student_t.ppf((1 + level) / 2, len(vals) - 1)) * sd / math.sqrt(len(vals))
    return MeanCI(m, m - half, m + half, half, sd, len(vals), level)


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test that ``a`` and ``b`` have the same mean.

    Both samples constant: 1.0 when their means are equal, else 0.0 (the difference has no noise).
    """
    student_t = require("scipy.stats", "data", "confidence intervals").t
    a, b = [float(v) for v in a], [float(v) for v in b]
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"Welch's test needs >= 2 values per group, got {len(a)} and {len(b)}")
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    diff = statistics.fmean(a) - statistics.fmean(b)
    if va + vb == 0:
        return 1.0 if diff == 0 else 0.0
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return float(2 * student_t.sf(abs(t), df))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given): controls the family-wise error."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class PairedDiff:
    """Mean of the paired differences ``a[i] - b[i]`` with one-sided bounds at ``alpha`` each:
    ``lo`` (the difference is above it with confidence 1 - alpha) and ``hi``; [lo, hi] is the
    two-sided 1 - 2 alpha interval. ``p_greater(x)`` / ``p_less(x)``: one-sided p-values of
    H1 "mean difference > x" / "< x" (Student t with n - 1 degrees of freedom)."""
    mean: float
    sd: float
    n: int
    lo: float
    hi: float
    alpha: float

    def p_greater(self, x: float) -> float:
        return _t_tail(self, self.mean - x)

    def p_less(self, x: float) -> float:
        return _t_tail(self, x - self.mean)

    def as_dict(self) -> dict:
        return dict(mean=self.mean, sd=self.sd, n=self.n, lo=self.lo, hi=self.hi, alpha=self.alpha)


def _t_tail(d: PairedDiff, excess: float) -> float:
    """P(T >= excess / se) for T ~ t(n - 1); a zero-variance difference is certain either way."""
    se = d.sd / math.sqrt(d.n)
    if se == 0:
        return 0.0 if excess > 0 else 1.0
    student_t = require("scipy.stats", "data", "confidence intervals").t
    return float(student_t.sf(excess / se, d.n - 1))


def paired_diff(a: Sequence[float], b: Sequence[float], alpha: float = 0.05) -> PairedDiff:
    """The paired differences ``a[i] - b[i]`` (e.g. two nets trained with seed i each): mean, SD and the
    one-sided bounds mean -+ t_{1-alpha, n-1} * sd / sqrt(n)."""
    a, b = [float(v) for v in a], [float(v) for v in b]
    if len(a) != len(b):
        raise ValueError(f"paired values need equal lengths, got {len(a)} and {len(b)}")
    if len(a) < 2:
        raise ValueError(f"a paired test needs >= 2 pairs, got {len(a)}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha!r}")
    student_t = require("scipy.stats", "data", "confidence intervals").t
    d = [x - y for x, y in zip(a, b)]
    m, sd = statistics.fmean(d), statistics.stdev(d)
    half = float(student_t.ppf(1 - alpha, len(d) - 1)) * sd / math.sqrt(len(d))
    return PairedDiff(m, sd, len(d), m - half, m + half, alpha)
