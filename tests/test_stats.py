"""convzoo.analysis.stats against textbook values and an independent computation of Welch's test."""
from __future__ import annotations

import math

import numpy as np
import pytest

from convzoo.analysis.stats import holm, mean_ci, paired_diff, welch_p


def test_t_interval_matches_the_table_value():
    # t_{0.975, 2} = 4.302653 (any t table); mean 2, sd 1 over n = 3
    ci = mean_ci([1.0, 2.0, 3.0])
    assert ci.mean == 2.0 and ci.sd == 1.0 and ci.n == 3
    assert ci.half == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert mean_ci([5.0]).half == 0.0
    assert ci.overlaps(mean_ci([4.0, 5.0, 6.0])) and not ci.overlaps(mean_ci([9.0, 10.0, 11.0]))
    with pytest.raises(ValueError, match="at least one"):
        mean_ci([])


def test_welch_matches_a_monte_carlo_of_its_null():
    rng = np.random.default_rng(0)
    a, b = [0.61, 0.64, 0.60], [0.70, 0.75, 0.72]
    p = welch_p(a, b)
    # independent check: the statistic's tail probability under H0 by simulation with Welch's df
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 3
    t = abs(np.mean(a) - np.mean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 2)
    sim = rng.standard_t(df, size=400_000)
    assert p == pytest.approx(np.mean(np.abs(sim) >= t), abs=3e-3)
    assert welch_p([1.0, 1.0], [1.0, 1.0]) == 1.0 and welch_p([1.0, 1.0], [2.0, 2.0]) == 0.0


def test_holm_step_down():
    # Holm 1979: sorted p (0.01, 0.02, 0.04) -> (0.03, 0.04, 0.04), returned in the given order
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_paired_difference_bounds_and_one_sided_p_values():
    # d = (0.01, 0.02, -0.01, 0.02): mean 0.01, sd sqrt(0.0006 / 3) = 0.0141421, se = sd / 2;
    # t_{0.95, 3} = 2.353363 (any t table): bounds 0.01 -+ 2.353363 * 0.0070711 = [-0.0066408, 0.0266408]
    d = paired_diff([0.90, 0.92, 0.91, 0.93], [0.89, 0.90, 0.92, 0.91], alpha=0.05)
    assert (d.mean, d.n) == (pytest.approx(0.01), 4) and d.sd == pytest.approx(math.sqrt(0.0002))
    assert (d.lo, d.hi) == (pytest.approx(-0.0066408, abs=1e-7), pytest.approx(0.0266408, abs=1e-7))
    # scipy.stats.ttest_1samp(d, -0.02, alternative="greater").pvalue = 0.0119906 (t = 4.2426, 3 df):
    # non-inferior within 2 points, where the two-sided difference test (ttest_rel p = 0.2522) sees nothing
    assert d.p_greater(-0.02) == pytest.approx(0.0119906, abs=1e-6)
    assert 2 * d.p_greater(0.0) == pytest.approx(0.2522155, abs=1e-6)
    assert d.p_less(0.0) == pytest.approx(0.8738923, abs=1e-6)
    flat = paired_diff([0.5, 0.6], [0.4, 0.5])                       # no noise in the difference
    assert flat.lo == flat.hi == pytest.approx(0.1) and flat.p_greater(0.05) == 0.0 and flat.p_less(0.05) == 1.0
    with pytest.raises(ValueError, match="equal lengths"):
        paired_diff([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match=">= 2 pairs"):
        paired_diff([1], [1])
