"""Search rewards: MnasNet's accuracy-and-cost product and EfficientNetV2's training-aware variant.

MnasNet (Tan et al. 2019, arXiv:1807.11626, Eq. 2-3): ``ACC(m) * [COST(m) / T] ** w`` with
``w = alpha`` if ``COST(m) <= T`` else ``beta``. The paper picks ``alpha = beta = -0.07`` (soft
constraint: doubling the cost must buy about +5 % relative accuracy, 1.05 * 2**-0.07 ~= 1); the hard
constraint is ``alpha = 0, beta = -1`` (free below T, punished sharply above). EfficientNet's
baseline search used the same reward with COST = FLOPs (MACs) and T = 400M (arXiv:1905.11946, Sec. 4).

EfficientNetV2 (Tan & Le 2021, arXiv:2104.00298, Sec. 4.1) rewards ``A * S**w * P**v`` with S the
normalised training step time, P the parameter count, ``w = -0.07``, ``v = -0.05``.
"""
from __future__ import annotations

SOFT = (-0.07, -0.07)        # (alpha, beta), MnasNet's choice
HARD = (0.0, -1.0)


def mnasnet_reward(accuracy: float, cost: float, target: float, alpha: float = SOFT[0],
                   beta: float = SOFT[1]) -> float:
    """``accuracy * (cost / target) ** (alpha if cost <= target else beta)``."""
    if not target > 0:
        raise ValueError(f"target T must be > 0, got {target!r}")
    if not cost > 0:
        raise ValueError(f"cost must be > 0, got {cost!r}")
    w = alpha if cost <= target else beta
    return accuracy * (cost / target) ** w


def constraint_exponents(constraint: str) -> tuple[float, float]:
    if constraint == "soft":
        return SOFT
    if constraint == "hard":
        return HARD
    raise ValueError(f"constraint must be 'soft' or 'hard', got {constraint!r}")


def efficientnetv2_reward(accuracy: float, step_time: float, params: float, step_target: float,
                          params_target: float, w: float = -0.07, v: float = -0.05) -> float:
    """``A * S**w * P**v`` with S and P normalised by their targets (so the reward is ``A`` at target)."""
    if not (step_time > 0 and params > 0 and step_target > 0 and params_target > 0):
        raise ValueError("step_time, params and their targets must all be > 0, got "
                         f"{step_time!r}, {params!r}, {step_target!r}, {params_target!r}")
    return accuracy * (step_time / step_target) ** w * (params / params_target) ** v
