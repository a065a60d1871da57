"""RepVGG-A0/A1/A2, B0/B1/B2/B3 and the groupwise B1g4/B2g4/B3g4.

Ding et al. 2021, "RepVGG: Making VGG-style ConvNets Great Again", arXiv:2101.03697: Table 2 (the
architecture: five stages, the first a single stride-2 layer), Table 3 (the multipliers a, b) and
Sec. 3.4 (groupwise 3x3 convs with g groups on every second layer). Reference with identical
parameters and state-dict keys (BN named ``bn`` there): timm ``repvgg_*`` (``byobnet.py``).
Train with the branches; deploy after :func:`convzoo.reparameterize_model` (one 3x3 conv per layer).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from ..blocks.repvgg_block import RepVggBlock
from ..layers import drop_path_rates
from ..registry import register_model
from ._builder import build
from ._specs import Twin, adapt_cfg, image_cfg, twin_cfg
from .base import ClassifierHead, ConvNet

__all__ = ["RepVGG", "RepVGGSpec", "REPVGG", "convert_timm_byobnet"]


@dataclass(frozen=True)
class RepVGGSpec:
    """A row of RepVGG Tables 2 and 3: layers of stages 2-5 (stage 1 is the stem, one layer), the
    width multipliers (a for stages 1-4, b for stage 5) and g (1: no groupwise layers)."""

    depths: tuple[int, int, int, int]
    a: float
    b: float
    groups: int = 1

    @property
    def widths(self) -> tuple[int, ...]:
        # Table 2: stages 2-5 have 64a, 128a, 256a and 512b channels
        return tuple(int(round(c * m)) for c, m in zip((64, 128, 256, 512), (self.a,) * 3 + (self.b,)))

    @property
    def stem_width(self) -> int:
        return min(64, int(round(64 * self.a)))    # Table 2, stage 1: min(64, 64a)


A, B = (2, 4, 14, 1), (4, 6, 16, 1)      # Table 2: layers of stages 2-5 for RepVGG-A and -B
# RepVGG, Tables 2 and 3 of Ding et al. 2021 (arXiv:2101.03697):
#                 stages 2-5   a     b     g
REPVGG = {
    "a0":   RepVGGSpec(A, 0.75, 2.5),
    "a1":   RepVGGSpec(A, 1.0,  2.5),
    "a2":   RepVGGSpec(A, 1.5,  2.75),
    "b0":   RepVGGSpec(B, 1.0,  2.5),
    "b1":   RepVGGSpec(B, 2.0,  4.0),
    "b1g4": RepVGGSpec(B, 2.0,  4.0, 4),
    "b2":   RepVGGSpec(B, 2.5,  5.0),
    "b2g4": RepVGGSpec(B, 2.5,  5.0, 4),
    "b3":   RepVGGSpec(B, 3.0,  5.0),
    "b3g4": RepVGGSpec(B, 3.0,  5.0, 4),
}


class RepVGG(ConvNet):
    """RepVGG: a stride-2 RepVGG block (stem) -> 4 stages of RepVGG blocks -> pool -> FC.

    The first block of every stage has stride 2; with g > 1 the blocks at odd positions within a
    stage (the paper's 2nd, 4th, ... layers; timm counts the same way) use g groups.
    Shape: (N, in_chans, H, W) -> (N, num_classes).
    """

    weight_layouts = ("timm",)

    def __init__(self, spec: RepVGGSpec, *, num_classes: int = 1000, in_chans: int = 3,
                 drop_rate: float = 0.0, drop_path_rate: float = 0.0, default_cfg: Optional[dict] = None):
        super().__init__()
        self.in_chans, self.num_classes = in_chans, num_classes
        self.stem = RepVggBlock(in_chans, spec.stem_width, stride=2)
        self.feature_info.append(dict(num_chs=spec.stem_width, reduction=2, module="stem"))
        rates = drop_path_rates(drop_path_rate, sum(spec.depths))
        stages, in_ch, start = [], spec.stem_width, 0
        for i, (depth, ch) in enumerate(zip(spec.depths, spec.widths)):
            stages.append(nn.Sequential(*[
                RepVggBlock(in_ch if j == 0 else ch, ch, stride=2 if j == 0 else 1,
                            groups=spec.groups if j % 2 else 1, drop_path=rates[start + j])
                for j in range(depth)]))
            start += depth
            in_ch = ch
            self.feature_info.append(dict(num_chs=ch, reduction=4 * 2 ** i, module=f"stages.{i}"))
        self.stages = nn.Sequential(*stages)
        self.neck = nn.Identity()
        self.num_features = in_ch
        self.head = ClassifierHead(in_ch, num_classes, drop_rate)
        self.default_cfg = adapt_cfg(default_cfg or {}, in_chans=in_chans, num_classes=num_classes)
        init_byobnet_(self)
        for m in self.modules():   # timm's RepVggBlock.init_weights: BN scale N(0.1, 0.1), shift N(0, 0.1)
            if isinstance(m, RepVggBlock):
                for bn in m.modules():
                    if isinstance(bn, nn.BatchNorm2d):
                        nn.init.normal_(bn.weight, 0.1, 0.1)
                        nn.init.normal_(bn.bias, 0.0, 0.1)

    def convert_state_dict(self, state_dict: dict[str, torch.Tensor], layout: str) -> dict:
        if layout != "timm":
            raise ValueError(f"RepVGG converts layout 'timm', got {layout!r}")
        return convert_timm_byobnet(state_dict)


def init_byobnet_(model: nn.Module) -> None:
    """timm's ByobNet init: conv N(0, 2 / fan_out), linear N(0, 0.01), BN (1, 0), zero biases."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


_TIMM_BN = re.compile(r"(^|\.)(conv_kxk(?:\.\d+)?|conv_1x1|conv_scale)\.bn\.")


def convert_timm_byobnet(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm's ``byobnet`` keys (RepVGG, MobileOne) in ours: the branch BN is ``norm`` here (as in
    every :class:`~convzoo.layers.ConvNormAct`), squeeze-excite's ``fc1``/``fc2`` are ``reduce``/
    ``expand``. The fused form's ``reparam_conv`` keys are the same in both."""
    out = {}
    for k, v in state_dict.items():
        k = _TIMM_BN.sub(r"\1\2.norm.", k)
        out[k.replace(".attn.fc1.", ".attn.reduce.").replace(".attn.fc2.", ".attn.expand.")] = v
    return out


# The metadata of every registered name (timm's default_cfgs for repvgg_*: 224 px, bilinear, 0.875).
# Departure: timm's first_conv is the pair ("stem.conv_kxk.conv", "stem.conv_1x1.conv"); ours names
# the 3x3 one (convzoo's cfg holds one module path).
default_cfgs = {f"repvgg_{v}": image_cfg(f"repvgg_{v}", 224, interpolation="bilinear",
                                         first_conv="stem.conv_kxk.conv")
                for v in REPVGG}
# Twins: timm's repvgg_* (the same parameters), and Table 4's inference-time (fused) parameters and
# FLOPs (multiply-adds) at 224 px; A0's 1.52G is the training-time count (the fused A0 has 1.36G,
# tests/test_reparam.py). The plain variants are A0's code at other widths and depths, the grouped
# ones (g4) B1g4's.
REPVGG_PAPER = "Ding et al. 2021, arXiv:2101.03697, Table 4 (fused)"
#                variant  paper: M params  GMACs
REPVGG_PAPER_ROWS = {"a0":   (8.30,          1.52),
                     "a1":   (12.78,         2.37),
                     "a2":   (25.49,         5.12),
                     "b0":   (14.33,         3.06),
                     "b1":   (51.82,         11.82),
                     "b1g4": (36.12,         7.31),
                     "b2":   (80.31,         18.38),
                     "b2g4": (55.77,         11.34),
                     "b3":   (110.96,        26.21),
                     "b3g4": (75.62,         16.07)}
default_cfgs = {f"repvgg_{v}": twin_cfg(default_cfgs[f"repvgg_{v}"], Twin(f"repvgg_{v}", gmacs=gmacs, mparams=mparams),
                                        paper=REPVGG_PAPER, fused=True,
                                        same_code="" if v in ("a0", "b1g4") else "repvgg_b1g4" if v.endswith("g4")
                                        else "repvgg_a0")
                for v, (mparams, gmacs) in REPVGG_PAPER_ROWS.items()}


def _repvgg(variant: str, **kwargs) -> RepVGG:
    name = f"repvgg_{variant}"
    return build(name, "RepVGG", RepVGG, kwargs, spec=REPVGG[variant])


@register_model(cfg=default_cfgs["repvgg_a0"])
def repvgg_a0(**kwargs) -> RepVGG:
    """RepVGG-A0: layers (1, 2, 4, 14, 1), a = 0.75, b = 2.5."""
    return _repvgg("a0", **kwargs)


@register_model(cfg=default_cfgs["repvgg_a1"])
def repvgg_a1(**kwargs) -> RepVGG:
    """RepVGG-A1: layers (1, 2, 4, 14, 1), a = 1, b = 2.5."""
    return _repvgg("a1", **kwargs)


@register_model(cfg=default_cfgs["repvgg_a2"])
def repvgg_a2(**kwargs) -> RepVGG:
    """RepVGG-A2: layers (1, 2, 4, 14, 1), a = 1.5, b = 2.75."""
    return _repvgg("a2", **kwargs)


@register_model(cfg=default_cfgs["repvgg_b0"])
def repvgg_b0(**kwargs) -> RepVGG:
    """RepVGG-B0: layers (1, 4, 6, 16, 1), a = 1, b = 2.5."""
    return _repvgg("b0", **kwargs)


@register_model(cfg=default_cfgs["repvgg_b1"])
def repvgg_b1(**kwargs) -> RepVGG:
    """RepVGG-B1: layers (1, 4, 6, 16, 1), a = 2, b = 4."""
    return _repvgg("b1", **kwargs)


@register_model(cfg=default_cfgs["repvgg_b1g4"])
def repvgg_b1g4(**kwargs) -> RepVGG:
    """RepVGG-B1g4: B1 with 4-group 3x3 convs on every second layer."""
    return _repvgg("b1g4", **kwargs)


@register_model(cfg=default_cfgs["repvgg_b2"])
def repvgg_b2(**kwargs) -> RepVGG:
    """RepVGG-B2: layers (1, 4, 6, 16, 1), a = 2.5, b = 5."""
    return _repvgg("b2", **kwargs)


@register_model(cfg=default_cfgs["repvgg_b2g4"])
def repvgg_b2g4(**kwargs) -> RepVGG:
    """RepVGG-B2g4: B2 with 4-group 3x3 convs on every second layer."""
    return _repvgg("b2g4", **kwargs)


@register_model(cfg=default_cfgs["repvgg_b3"])
def repvgg_b3(**kwargs) -> RepVGG:
    """RepVGG-B3: layers (1, 4, 6, 16, 1), a = 3, b = 5."""
    return _repvgg("b3", **kwargs)


@register_model(cfg=default_cfgs["repvgg_b3g4"])
def repvgg_b3g4(**kwargs) -> RepVGG:
    """RepVGG-B3g4: B3 with 4-group 3x3 convs on every second layer."""
    return _repvgg("b3g4", **kwargs)
