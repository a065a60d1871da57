"""How wide the squeeze of a block's squeeze-excite is: the one place for the rule.

The reference codes disagree on what the SE ratio is relative to and how it is rounded, so a table
names its rule (``MBStage.se_style.width``) and the blocks ask :func:`se_channels`:

* ``"in"``: ``max(1, int(in_channels * se_ratio))``, a fraction of the block's *input* channels,
  truncated. EfficientNet's official TF code (Tan & Le 2019, arXiv:1905.11946), which timm and
  torchvision follow; also EfficientNetV2 and the searched nets.
* ``"expanded"``: ``make_divisible(hidden_channels * se_ratio, 8)``, a fraction of the *expanded*
  channels rounded to a multiple of 8. MobileNetV3 (Howard et al. 2019, arXiv:1905.02244, Sec. 5.3:
  "fixed to be 1/4 of the number of channels in expansion layer"); torchvision writes
  ``_make_divisible(exp // 4, 8)``, timm ``round_channels(mid * 0.25)``.
"""
from __future__ import annotations

from typing import Callable

from ..layers.channels import make_divisible

SE_WIDTH_RULES: dict[str, Callable[[int, int, float], int]] = {
    "in": lambda in_channels, hidden, ratio: max(1, int(in_channels * ratio)),
    "expanded": lambda in_channels, hidden, ratio: make_divisible(hidden * ratio, 8),
}


def se_channels(rule: str, in_channels: int, hidden_channels: int, se_ratio: float) -> int:
    """The squeeze width of a block with ``in_channels`` -> ``hidden_channels`` (expanded) under ``rule``."""
    if rule not in SE_WIDTH_RULES:
        raise ValueError(f"SE width rule must be one of {sorted(SE_WIDTH_RULES)}, got {rule!r}")
    return SE_WIDTH_RULES[rule](in_channels, hidden_channels, se_ratio)
