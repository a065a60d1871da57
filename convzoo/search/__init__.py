"""Accuracy-and-cost architecture search (MnasNet arXiv:1807.11626, EfficientNetV2 arXiv:2104.00298).

    >>> from convzoo.search import run_search
    >>> result = run_search("runs/search", budget="small", cost="latency")   # `convzoo search`
    >>> net = convzoo.create_model("searched", spec="runs/search/best_spec.json")

:mod:`.space` is the per-stage MBConv / Fused-MBConv space, :mod:`.reward` the rewards, :mod:`.study`
the resumable Optuna study (SQLite storage in the run folder) and its Pareto front.
"""
from .reward import HARD, SOFT, efficientnetv2_reward, mnasnet_reward
from .space import SHAPES_SPACE, SearchSpace, StageChoices
from .study import pareto_front, run_search

__all__ = ["run_search", "pareto_front", "SearchSpace", "StageChoices", "SHAPES_SPACE",
           "mnasnet_reward", "efficientnetv2_reward", "SOFT", "HARD"]
