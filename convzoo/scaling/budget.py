"""``--budget smoke|tiny|small|medium|large`` for ``convzoo scale`` and ``convzoo search``: an amount of work.

A preset fixes the work (data size, epochs, how many nets or trials), never the time: a busy machine
takes longer and reaches the same study. ``minutes`` is what the preset takes on an idle 2-core CPU,
for the help text only. A time limit is opt-in (``--time-limit MINUTES``, :attr:`Budget.limit_minutes`):
with one, no new run or trial starts that would end after it, the ones not run are listed, the
command exits with :data:`CUT_SHORT`, and running the same command again (same ``--out``) continues.
``--budget N`` (a number of minutes) is the largest preset whose idle time fits in N, with N as its
time limit.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

CUT_SHORT = 3     # the exit code of a study the time limit cut short (0: done; 1, 2: errors)


@dataclass(frozen=True)
class Budget:
    name: str
    minutes: float                 # about this long on an idle 2-core CPU (documentation, not a limit)
    train_size: int                # training images
    test_size: int
    epochs: int
    batch_size: int = 50
    phis: tuple[float, ...] = (1.0,)   # scale: the phi values of each curve (0 = base is always run)
    grid_points: int = 2           # scale: extra (alpha, beta, gamma) points at phi = 1
    trials: int = 8                # search: trials
    search_epochs: Optional[int] = None
    limit_minutes: Optional[float] = None   # opt-in time limit: no run/trial starts that would end after it

    def with_limit(self, minutes: Optional[float]) -> "Budget":
        """The same work under a time limit of ``minutes`` (None: none)."""
        if minutes is not None and not 0 < float(minutes) < float("inf"):
            raise ValueError(f"--time-limit must be a number of minutes > 0, got {minutes!r}")
        return replace(self, limit_minutes=None if minutes is None else float(minutes))


# Idle times are for a 2-core CPU; on a busy machine the same work takes longer.
BUDGETS = {
    # smoke: seconds, for tests of the machinery; it learns nothing (chance is 1/7 on shapes)
    "smoke": Budget("smoke", minutes=0.5, train_size=256, test_size=200, epochs=2, batch_size=16, phis=(1.0,),
                    grid_points=0, trials=4, search_epochs=1),
    # tiny: the README's tour; the whole scale grid (5 runs) or search (4 trials) in about 2-3 minutes
    # and above chance: the base net reached 42% (chance 14%) with 1000 images x 6 epochs, 13% with 256 x 2
    "tiny": Budget("tiny", minutes=3, train_size=1000, test_size=200, epochs=6, batch_size=32, phis=(1.0,),
                   grid_points=0, trials=4, search_epochs=3),
    # small: twice tiny's images (the base net: 63.5% with 2000 x 6 epochs), two grid points more
    "small": Budget("small", minutes=8, train_size=2000, test_size=300, epochs=6, batch_size=32, phis=(1.0,),
                    grid_points=2, trials=8, search_epochs=4),
    "medium": Budget("medium", minutes=120, train_size=3000, test_size=1000, epochs=8,
                     phis=(1.0, 2.0), grid_points=4, trials=24, search_epochs=4),
    "large": Budget("large", minutes=480, train_size=6000, test_size=2000, epochs=12,
                    phis=(1.0, 2.0, 3.0), grid_points=8, trials=60, search_epochs=6),
}


def parse_budget(value: str) -> Budget:
    """``"tiny"``, ``"small"``, ``"medium"``, ``"large"`` (work, no time limit) or a number of minutes
    (``"12"``, ``"0.5"``: the largest preset whose idle time fits, limited to that many minutes)."""
    if isinstance(value, Budget):
        return value
    text = str(value).strip().lower()
    if text in BUDGETS:
        return BUDGETS[text]
    try:
        minutes = float(text)
    except ValueError:
        raise ValueError(f"--budget must be {', '.join(BUDGETS)} or a number of minutes, "
                         f"got {value!r}") from None
    if not 0 < minutes < float("inf"):
        raise ValueError(f"--budget in minutes must be > 0, got {value!r}")
    fitting = [b for b in BUDGETS.values() if b.minutes <= minutes and b.name != "smoke"] or [BUDGETS["tiny"]]
    return replace(fitting[-1], name=f"{text}min", limit_minutes=minutes)


def deadline(budget: Budget, start: float) -> float:
    """The monotonic time after which no run or trial starts: ``inf`` without a time limit."""
    return float("inf") if budget.limit_minutes is None else start + 60 * budget.limit_minutes
