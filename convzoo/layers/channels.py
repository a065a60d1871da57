"""Channel rounding of the official MobileNetV2 / EfficientNet code."""
from __future__ import annotations


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None,
                   round_limit: float = 0.9) -> int:
    """Round channels to a multiple of ``divisor``, never dropping below ``round_limit`` of ``value``.

    This is the rule of the official MobileNetV2 / EfficientNet code (``round_filters``):
    ``max(min_value, int(v + d/2) // d * d)``, plus ``d`` if that lost more than 10 %.
    """
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < round_limit * value:
        new += divisor
    return int(new)
