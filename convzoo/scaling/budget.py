"""``--budget smoke|tiny|small|medium|large|<minutes>`` for ``convzoo scale`` and ``convzoo search``.

A preset fixes the amount of work (data size, epochs, how many variants or trials) *and* a time
limit; a number of minutes picks the largest preset whose nominal time fits and uses the number as
the limit. When the limit is reached no new run or trial starts; the ones done are reported, and
running the same command again (same ``--out``) continues where it stopped.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional


@dataclass(frozen=True)
class Budget:
    name: str
    minutes: float                 # time limit: no new run/trial starts after it
    train_size: int                # training images
    test_size: int
    epochs: int
    batch_size: int = 50
    phis: tuple[float, ...] = (1.0,)   # scale: the phi values of each curve (0 = base is always run)
    grid_points: int = 2           # scale: extra (alpha, beta, gamma) points at phi = 1
    trials: int = 8                # search: trials
    search_epochs: Optional[int] = None


# Nominal times are for an idle 2-core CPU; on a busy machine the time limit cuts the plan short.
BUDGETS = {
    # smoke: seconds, for tests of the machinery; it learns nothing (chance is 1/7 on shapes)
    "smoke": Budget("smoke", minutes=3, train_size=256, test_size=200, epochs=2, batch_size=16, phis=(1.0,),
                    grid_points=0, trials=4, search_epochs=1),
    # tiny: the README's tour; the whole scale grid (5 runs) or search (4 trials) in <= 3 minutes and
    # above chance: the base net reached 42% (chance 14%) with 1000 images x 6 epochs, 13% with 256 x 2
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
    """``"tiny"``, ``"small"``, ``"medium"``, ``"large"`` or a number of minutes (``"12"``, ``"0.5"``)."""
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
    return replace(fitting[-1], name=f"{text}min", minutes=minutes)
