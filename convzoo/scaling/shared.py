"""The scaling grid spread over several workers: one run per trial of an Optuna study.

Every worker started with the same ``--storage`` URL and settings plans the same variants; each
trial takes one variant nobody else holds, trains it in the worker's own ``OUT/runs/<key>`` and
stores its table row in the trial (``user_attrs["row"]``), so every worker writes the same tables.
The choice is race-free without locks: trial numbers are handed out by the database in creation
order, and the trial numbered ``n`` takes the ``k``-th variant not yet held, ``k`` being how many
live trials numbered below ``n`` do not hold one yet (they will take the first ``k``). The exact
total, waiting and the re-queueing of a killed worker's run are :func:`convzoo.scaling.workers.drive`.
"""
from __future__ import annotations

import time
from typing import Optional

STUDY_NAME = "convzoo-scale"


def _pick(study, number: int, keys: list[str]) -> Optional[str]:
    from .storage import optuna_module
    S = optuna_module().trial.TrialState
    held, waiting_for_key = set(), 0
    for t in study.get_trials(deepcopy=False, states=(S.COMPLETE, S.RUNNING, S.WAITING)):
        if "variant" in t.params:
            held.add(t.params["variant"])
        elif t.number < number:
            waiting_for_key += 1
    free = [k for k in keys if k not in held]
    return free[waiting_for_key] if waiting_for_key < len(free) else None


def _sampler(choice: dict):
    """A sampler that returns the value the objective decided (``choice["next"]``)."""
    from .storage import optuna_module
    base = optuna_module().samplers.BaseSampler

    class Chosen(base):
        def infer_relative_search_space(self, study, trial):
            return {}

        def sample_relative(self, study, trial, search_space):
            return {}

        def sample_independent(self, study, trial, param_name, param_distribution):
            return choice["next"]
    return Chosen()


def run_shared(url: str, meta: dict, variants: list, runner, deadline: float, *, heartbeat_s: int = 10,
               grace_s: Optional[int] = None, poll_s: float = 1.0) -> tuple[list, list]:
    """Run this worker's share of ``variants``; returns (rows of every finished run, keys not run)."""
    from .storage import check_storage, once_per_study, open_storage, optuna_module
    from .workers import drive, over_cap
    optuna = optuna_module()
    check_storage(url)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    choice: dict = {}
    study = optuna.create_study(study_name=STUDY_NAME, storage=open_storage(url, heartbeat_s, grace_s),
                                load_if_exists=True, direction="maximize", sampler=_sampler(choice))
    stored = once_per_study(study, "convzoo_settings", lambda: meta)
    diff = sorted(k for k in meta if stored.get(k) != meta[k])
    if diff:
        raise ValueError(f"the study at --storage holds a scaling study with different settings "
                         f"({', '.join(diff)}); use another database or the same settings")
    keys = [v.key for v in variants]
    by_key = {v.key: v for v in variants}

    def objective(trial):
        t0 = time.monotonic()
        if over_cap(study, trial.number, len(keys)):
            raise optuna.TrialPruned("every run is done or taken")
        key = trial.params.get("variant") or _pick(study, trial.number, keys)
        if key is None:
            raise optuna.TrialPruned("every run is taken")
        choice["next"] = key
        trial.suggest_categorical("variant", keys)
        row = runner.train(by_key[key])
        trial.set_user_attr("row", row)
        trial.set_user_attr("trial_s", time.monotonic() - t0)
        return row["accuracy"]

    def next_fits() -> Optional[float]:
        nxt = _pick(study, 1 << 30, keys)
        if nxt is None or runner.fits(by_key[nxt], deadline):
            return None
        return float("inf")
    drive(study, objective, len(keys), deadline=deadline, callbacks=[], trial_seconds=next_fits,
          poll_s=poll_s)
    done = {t.params["variant"]: t.user_attrs["row"]
            for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))}
    return [done[k] for k in keys if k in done], [k for k in keys if k not in done]
