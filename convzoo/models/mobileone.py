"""MobileOne-S0 ... S4.

Vasu et al. 2023, "MobileOne: An Improved One millisecond Mobile Backbone", arXiv:2206.04040,
Table 7 (network specification: stages, blocks, strides, base widths, the multipliers alpha and the
over-parameterization factor k) and Fig. 3 (the unit: a depthwise 3x3 block, then a pointwise 1x1
block, each with k conv branches, a 1x1 "scale" branch where the kernel is 3x3, and a BN skip).
Official code apple/ml-mobileone; reference with identical parameters and keys (BN named ``bn``
there, SE ``fc1``/``fc2``): timm ``mobileone_s*`` (``byobnet.py``). Deploy after
:func:`convzoo.reparameterize_model`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from ..blocks.mobileone_block import MobileOneBlock
from ..layers import drop_path_rates
from ..registry import register_model
from ._builder import build
from ._specs import Twin, adapt_cfg, image_cfg, twin_cfg
from .base import ClassifierHead, ConvNet
from .repvgg import convert_timm_byobnet, init_byobnet_

__all__ = ["MobileOne", "MobileOneSpec", "MOBILEONE", "MOBILEONE_STAGES"]


@dataclass(frozen=True)
class MobileOneSpec:
    """A variant column of MobileOne Table 7: the width multipliers alpha_1..alpha_4, the number of
    conv branches k, and how many units at the end of each stage carry squeeze-excite (S4)."""

    alphas: tuple[float, float, float, float]
    k: int = 1
    se_units: tuple[int, int, int, int] = (0, 0, 0, 0)


# MobileOne Table 7 (arXiv:2206.04040), stages 2-6 (stage 1 is the stem: one stride-2 3x3 block
# of min(64, 64 alpha_1) channels):   units  base channels  alpha
# Departure (timm's layout, so stage and feature indices equal timm's): the paper's stages 4 and 5
# (5 units each, 256 alpha_3, stride 2 then 1) are one stage of 10 units here.
MOBILEONE_STAGES = (
    (2, 64, 0),      # stage 2: 56 x 56
    (8, 128, 1),     # stage 3: 28 x 28
    (10, 256, 2),    # stages 4 and 5: 14 x 14
    (1, 512, 3),     # stage 6: 7 x 7
)

# MobileOne Table 7 (arXiv:2206.04040):  alpha_1..alpha_4        k   units with SE (S4: "SE-ReLU"
#                                                                    in stages 5 and 6)
MOBILEONE = {
    "s0": MobileOneSpec((0.75, 1.0, 1.0, 2.0), k=4),
    "s1": MobileOneSpec((1.5, 1.5, 2.0, 2.5)),
    "s2": MobileOneSpec((1.5, 2.0, 2.5, 4.0)),
    "s3": MobileOneSpec((2.0, 2.5, 3.0, 4.0)),
    "s4": MobileOneSpec((3.0, 3.5, 3.5, 4.0), se_units=(0, 0, 5, 1)),
}


class MobileOne(ConvNet):
    """MobileOne: stride-2 3x3 MobileOne block (stem) -> 4 stages of units -> pool -> FC.

    A unit is a depthwise 3x3 MobileOne block (stride 2 in a stage's first unit) followed by a
    pointwise 1x1 one; ``stages.i`` holds them flat (2 blocks per unit), as timm. The stem has one
    conv branch for every variant (the official code and timm; k applies to the stages).
    Shape: (N, in_chans, H, W) -> (N, num_classes).
    """

    weight_layouts = ("timm",)

    def __init__(self, spec: MobileOneSpec, *, num_classes: int = 1000, in_chans: int = 3,
                 drop_rate: float = 0.0, drop_path_rate: float = 0.0, default_cfg: Optional[dict] = None):
        super().__init__()
        self.in_chans, self.num_classes = in_chans, num_classes
        stem = min(64, int(round(64 * spec.alphas[0])))
        self.stem = MobileOneBlock(in_chans, stem, 3, stride=2)
        self.feature_info.append(dict(num_chs=stem, reduction=2, module="stem"))
        rates = drop_path_rates(drop_path_rate, 2 * sum(s[0] for s in MOBILEONE_STAGES))
        stages, in_ch, n = [], stem, 0
        for i, ((units, base, a), se) in enumerate(zip(MOBILEONE_STAGES, spec.se_units)):
            out_ch = int(round(base * spec.alphas[a]))
            blocks = []
            for u in range(units):
                kw = dict(num_conv_branches=spec.k, se=u >= units - se)
                blocks += [MobileOneBlock(in_ch, in_ch, 3, 2 if u == 0 else 1, groups=in_ch,
                                          drop_path=rates[n], **kw),
                           MobileOneBlock(in_ch, out_ch, 1, 1, drop_path=rates[n + 1], **kw)]
                in_ch, n = out_ch, n + 2
            stages.append(nn.Sequential(*blocks))
            self.feature_info.append(dict(num_chs=out_ch, reduction=4 * 2 ** i, module=f"stages.{i}"))
        self.stages = nn.Sequential(*stages)
        self.neck = nn.Identity()
        self.num_features = in_ch
        self.head = ClassifierHead(in_ch, num_classes, drop_rate)
        self.default_cfg = adapt_cfg(default_cfg or {}, in_chans=in_chans, num_classes=num_classes)
        init_byobnet_(self)
        for m in self.modules():
            if isinstance(m, MobileOneBlock):
                _balance_branches_(m)

    def convert_state_dict(self, state_dict: dict[str, torch.Tensor], layout: str) -> dict:
        if layout != "timm":
            raise ValueError(f"MobileOne converts layout 'timm', got {layout!r}")
        return convert_timm_byobnet(state_dict)


def _balance_branches_(block: MobileOneBlock) -> None:
    """Scale every branch BN to gamma = 1 / sqrt(branches), so their sum keeps the input's scale.

    Departure from timm / the official code (gamma = 1): in train mode BN renormalises each branch
    and the common factor changes nothing but the last block's scale, but in eval mode before the
    running statistics are learned a sum of 3-6 unit branches grows the activations ~1.5x per block
    (~1e4 after S4's 42 blocks), where float32 cancellation made channels_last and contiguous
    outputs differ by 3 % (timm's S4 too). Loading weights overwrites all of this.
    """
    bns = [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        nn.init.constant_(bn.weight, len(bns) ** -0.5)


# The metadata of every registered name (timm's default_cfgs for mobileone_s*: 224 px, bilinear,
# crop 0.875 for S0 and 0.9 for the others). timm's first_conv is the pair ("stem.conv_kxk.0.conv",
# "stem.conv_scale.conv"); ours names the 3x3 one.
default_cfgs = {f"mobileone_{v}": image_cfg(f"mobileone_{v}", 224, interpolation="bilinear",
                                            crop_pct=0.875 if v == "s0" else 0.9,
                                            first_conv="stem.conv_kxk.0.conv")
                for v in MOBILEONE}
# Twins: timm's mobileone_s* (the same parameters), and Table 8's inference-time (fused) parameters
# and multiply-adds at 224 px. S1-S3 are S0's code at other widths (S4 adds squeeze-excite).
MOBILEONE_PAPER = "Vasu et al. 2023, arXiv:2206.04040, Table 8 (fused)"
#                   variant  paper: M params  GMACs
MOBILEONE_PAPER_ROWS = {"s0": (2.1,           0.275),
                        "s1": (4.8,           0.825),
                        "s2": (7.8,           1.299),
                        "s3": (10.1,          1.896),
                        "s4": (14.8,          2.978)}
default_cfgs = {f"mobileone_{v}": twin_cfg(default_cfgs[f"mobileone_{v}"],
                                           Twin(f"mobileone_{v}", gmacs=gmacs, mparams=mparams),
                                           paper=MOBILEONE_PAPER, fused=True,
                                           same_code="mobileone_s0" if v in ("s1", "s2", "s3") else "")
                for v, (mparams, gmacs) in MOBILEONE_PAPER_ROWS.items()}


def _mobileone(variant: str, **kwargs) -> MobileOne:
    name = f"mobileone_{variant}"
    return build(name, "MobileOne", MobileOne, kwargs, spec=MOBILEONE[variant])


@register_model(cfg=default_cfgs["mobileone_s0"])
def mobileone_s0(**kwargs) -> MobileOne:
    """MobileOne-S0: alpha = (0.75, 1, 1, 2), k = 4 conv branches."""
    return _mobileone("s0", **kwargs)


@register_model(cfg=default_cfgs["mobileone_s1"])
def mobileone_s1(**kwargs) -> MobileOne:
    """MobileOne-S1: alpha = (1.5, 1.5, 2, 2.5), k = 1."""
    return _mobileone("s1", **kwargs)


@register_model(cfg=default_cfgs["mobileone_s2"])
def mobileone_s2(**kwargs) -> MobileOne:
    """MobileOne-S2: alpha = (1.5, 2, 2.5, 4), k = 1."""
    return _mobileone("s2", **kwargs)


@register_model(cfg=default_cfgs["mobileone_s3"])
def mobileone_s3(**kwargs) -> MobileOne:
    """MobileOne-S3: alpha = (2, 2.5, 3, 4), k = 1."""
    return _mobileone("s3", **kwargs)


@register_model(cfg=default_cfgs["mobileone_s4"])
def mobileone_s4(**kwargs) -> MobileOne:
    """MobileOne-S4: alpha = (3, 3.5, 3.5, 4), k = 1, squeeze-excite in the last 5 + 1 units."""
    return _mobileone("s4", **kwargs)
