"""A block's squeeze-excite: its style, how wide its squeeze is, and the one factory that builds it.

The reference codes disagree on what the SE ratio is relative to and how it is rounded, so a style
(:class:`SEStyle`, which a table row names as ``MBStage.se_style``) names its width rule, and every
block builds its SE with :func:`se_layer` (block's expanded width -> SqueezeExcite or Identity):

* ``"in"``: ``max(1, int(in_channels * se_ratio))``, a fraction of the block's *input* channels,
  truncated. EfficientNet's official TF code (Tan & Le 2019, arXiv:1905.11946), which timm and
  torchvision follow; also EfficientNetV2 and the searched nets.
* ``"expanded"``: ``make_divisible(hidden_channels * se_ratio, 8)``, a fraction of the *expanded*
  channels rounded to a multiple of 8. MobileNetV3 (Howard et al. 2019, arXiv:1905.02244, Sec. 5.3:
  "fixed to be 1/4 of the number of channels in expansion layer"); torchvision writes
  ``_make_divisible(exp // 4, 8)``, timm ``round_channels(mid * 0.25)``.
* ``"nearest8"``: ``make_divisible(hidden_channels * se_ratio, 8, round_limit=0)``, the nearest
  multiple of 8 (at least 8) without the 90 % floor: timm's ``SEModule`` in MobileOne (Vasu et al.
  2023, arXiv:2206.04040), ratio 1/16.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from torch import nn

from ..layers.channels import make_divisible
from ..layers.squeeze_excite import SqueezeExcite

SE_WIDTH_RULES: dict[str, Callable[[int, int, float], int]] = {
    "in": lambda in_channels, hidden, ratio: max(1, int(in_channels * ratio)),
    "expanded": lambda in_channels, hidden, ratio: make_divisible(hidden * ratio, 8),
    "nearest8": lambda in_channels, hidden, ratio: make_divisible(hidden * ratio, 8, round_limit=0.0),
}


@dataclass(frozen=True)
class SEStyle:
    """How a block's squeeze-excite is built (its ratio is the block's ``se_ratio``).

    ``width`` names the rule of :func:`se_channels` (``"in"``: a fraction of the block's input
    channels, EfficientNet; ``"expanded"``: of the expanded channels, rounded to a multiple of 8,
    MobileNetV3; ``"nearest8"``: MobileOne); ``act`` is the activation between the two 1x1 convs
    (``None``: the block's); ``gate`` turns the excitation into weights (sigmoid; MobileNetV3's
    hard-sigmoid).
    """

    width: str = "in"
    act: Optional[type[nn.Module]] = None
    gate: type[nn.Module] = nn.Sigmoid


SE_EFFICIENTNET = SEStyle()                                        # Tan & Le 2019, the TF reference
SE_MOBILENET_V3 = SEStyle("expanded", nn.ReLU, nn.Hardsigmoid)     # Howard et al. 2019, Sec. 5.3
SE_MOBILEONE = SEStyle("nearest8", nn.ReLU)                        # timm's MobileOne (ratio 1/16)


def se_channels(rule: str, in_channels: int, hidden_channels: int, se_ratio: float) -> int:
    """The squeeze width of a block with ``in_channels`` -> ``hidden_channels`` (expanded) under ``rule``."""
    if rule not in SE_WIDTH_RULES:
        raise ValueError(f"SE width rule must be one of {sorted(SE_WIDTH_RULES)}, got {rule!r}")
    return SE_WIDTH_RULES[rule](in_channels, hidden_channels, se_ratio)


def se_layer(hidden_channels: int, in_channels: int, se_ratio: float, style: SEStyle = SE_EFFICIENTNET,
             *, act_layer=nn.SiLU, dims: int = 2) -> nn.Module:
    """The squeeze-excite of a block that expands ``in_channels`` to ``hidden_channels``: a
    :class:`~convzoo.layers.SqueezeExcite` on the expanded channels, squeezed by ``style.width``,
    with ``style.act`` (else the block's ``act_layer``) and ``style.gate``; Identity at
    ``se_ratio == 0``. Shape: (N, hidden_channels, *S) -> (N, hidden_channels, *S)."""
    if se_ratio <= 0:
        return nn.Identity()
    return SqueezeExcite(hidden_channels, se_channels(style.width, in_channels, hidden_channels, se_ratio),
                         dims=dims, act_layer=style.act or act_layer, gate_layer=style.gate)
