"""EfficientNet's scaling study (arXiv:1905.11946, Sec. 3, Fig. 3, Table 3) on the ``shapes`` data.

    >>> from convzoo.scaling import run_study
    >>> results = run_study("runs/scale", budget="small")      # same as `convzoo scale`

:mod:`~convzoo.scaling.law` grows a base table by (depth, width, resolution); :mod:`.study` trains the
variants with :func:`convzoo.train.fit`; :mod:`.report` writes the tables and the plot;
:mod:`convzoo.analysis.cost` measures MACs, latency and training step time; :mod:`.budget` parses ``--budget``.
"""
from typing import TYPE_CHECKING

from .._lazy import lazy_exports

__all__ = ["run_study", "plan", "preferred_coefficients", "Budget", "BUDGETS", "parse_budget",
           "Multipliers", "compound", "single", "scaled_spec", "coefficient_grid", "PAPER_COEFFS",
           "SHAPES_BASE"]
# loaded on first use: the CLI reads the budgets (budget.py) without loading torch
__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(("BUDGETS", "Budget", "parse_budget"), ".budget"),
    **dict.fromkeys(("PAPER_COEFFS", "SHAPES_BASE", "Multipliers", "coefficient_grid", "compound", "scaled_spec",
                     "single"), ".law"),
    **dict.fromkeys(("plan", "preferred_coefficients", "run_study"), ".study")})

if TYPE_CHECKING:
    from .budget import BUDGETS, Budget, parse_budget
    from .law import (PAPER_COEFFS, SHAPES_BASE, Multipliers, coefficient_grid, compound, scaled_spec,
                      single)
    from .study import plan, preferred_coefficients, run_study
