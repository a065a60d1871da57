"""A sampler whose draws for trial ``n`` depend on (seed, n) only, not on which worker asks.

Optuna's samplers keep one random stream per process, so with several workers the parameters of
trial 3 depend on which process drew trials 0-2. :class:`NumberSeeded` gives each trial number its
own fresh inner sampler seeded from (seed, number): with ``kind="random"`` the whole study is then
the same whatever the number of workers; with ``kind="tpe"`` the random start-up trials are, and the
later ones also depend on the history TPE sees (which, in parallel, is whatever has finished).
"""
from __future__ import annotations

from ..scaling.storage import optuna_module

SAMPLERS = ("tpe", "random")


def _make(kind: str, seed: int, n_startup: int):
    optuna = optuna_module()
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup)


def number_seeded(kind: str, seed: int, n_startup: int):
    """A :class:`optuna.samplers.BaseSampler` that draws trial ``n`` with ``seed * 100003 + n``."""
    if kind not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {kind!r}")
    base = optuna_module().samplers.BaseSampler

    class NumberSeeded(base):
        def __init__(self):
            self._inner: dict[int, object] = {}

        def _for(self, trial):
            n = trial.number
            if n not in self._inner:
                self._inner = {n: _make(kind, seed * 100003 + n, n_startup)}   # keep one
            return self._inner[n]

        def infer_relative_search_space(self, study, trial):
            return self._for(trial).infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self._for(trial).sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

        def before_trial(self, study, trial):
            self._for(trial).before_trial(study, trial)

        def after_trial(self, study, trial, state, values):
            self._for(trial).after_trial(study, trial, state, values)

        def reseed_rng(self) -> None:      # draws are a function of (seed, number) by design
            pass

    return NumberSeeded()
