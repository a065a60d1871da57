"""The variants comparison behind ``convzoo compare`` (and ``make run``): one study, four files.

    setup   what it trains on and for how long (datasets, clutter, noise, budgets; torch-free)
    study   the jobs planned, trained in worker processes and timed again (run_compare)
    report  per-row statistics, the table, CSV, JSON and the plot
    claims  what the rows may claim: each lecture claim decided (holds / does not hold / undecided)

Importing the package loads no torch (``convzoo compare --help`` reads its budgets); the study's
names load on first use.
"""
from __future__ import annotations

from .._lazy import lazy_exports
from .setup import BUDGETS, CLUTTER, DATASETS, FRESH, NOISE

__getattr__, __dir__ = lazy_exports(__name__, {
    name: ".study" for name in ("default_config", "eval_every", "tail_epochs", "run_compare", "plan_jobs",
                                "matched_widths", "Job", "train_job", "to_markdown", "to_csv")})

__all__ = ["BUDGETS", "DATASETS", "CLUTTER", "NOISE", "FRESH", "default_config", "eval_every", "tail_epochs",
           "run_compare", "plan_jobs", "matched_widths", "Job", "to_markdown", "to_csv"]
