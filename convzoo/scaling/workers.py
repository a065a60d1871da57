"""Several worker processes on one study: an exact global trial count, waiting, and re-queued trials.

Optuna's ``n_trials`` counts per process (three workers with ``n_trials=4`` make 12 trials), and
``MaxTrialsCallback`` checks after a trial ends, so two workers that finish at once can both start
one more. :func:`drive` is exact instead:

* a worker starts a trial only while COMPLETE + RUNNING < total (others' running trials count);
* inside the trial, :func:`over_cap` looks again, race-free: trial numbers are handed out by the
  database in creation order, so a trial runs only when fewer than ``total`` trials with a smaller
  number are COMPLETE, RUNNING or WAITING; a trial that loses the race is PRUNED untrained. No more
  than ``total`` trials can ever complete (a too-strict refusal only makes a worker ask again);
* while the remaining trials are running elsewhere, a worker waits and looks for stale ones (a
  killed worker stops its heartbeat; its trial is marked FAIL and re-queued as WAITING with the same
  parameters, which the next ``ask`` hands out), and returns only when ``total`` are COMPLETE, so
  every worker summarises the same set;
* a time limit stops it starting a trial that its measured trial time says would not fit.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

from .storage import fail_stale, optuna_module


def state_counts(study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def over_cap(study, number: int, total: int) -> bool:
    """Whether ``total`` trials numbered below ``number`` are done or on their way."""
    S = optuna_module().trial.TrialState
    live = (S.COMPLETE, S.RUNNING, S.WAITING)
    return sum(1 for t in study.get_trials(deepcopy=False, states=live) if t.number < number) >= total


def drive(study, objective: Callable, total: int, *, deadline: float, callbacks: list,
          trial_seconds: Callable[[], Optional[float]] = lambda: None, poll_s: float = 1.0) -> str:
    """Run trials until ``total`` are COMPLETE in the study (``"done"``) or time is up (``"time"``)."""
    while True:
        fail_stale(study)
        counts = state_counts(study)
        if counts.get("COMPLETE", 0) >= total:
            return "done"
        now, est = time.monotonic(), trial_seconds()
        if now >= deadline or (est is not None and now + est > deadline):
            return "time"
        if counts.get("COMPLETE", 0) + counts.get("RUNNING", 0) >= total:
            time.sleep(poll_s)            # the rest are running in other workers
            continue
        study.optimize(objective, n_trials=1, callbacks=callbacks, catch=())


def median_trial_seconds(study, key: str = "trial_s") -> Optional[float]:
    """Median wall time of this study's finished trials (their ``user_attrs[key]``), None before one."""
    S = optuna_module().trial.TrialState
    times = sorted(t.user_attrs[key] for t in study.get_trials(deepcopy=False, states=(S.COMPLETE,))
                   if key in t.user_attrs)
    return times[len(times) // 2] if times else None
