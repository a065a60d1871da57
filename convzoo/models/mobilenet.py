"""MobileNetV1 and MobileNetV2, both with a width multiplier.

* Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
  Applications", arXiv:1704.04861, Table 1 (depthwise-separable convs, Fig. 3).
  Reference implementation: timm ``mobilenetv1_100`` (4,231,976 parameters) and TF-slim.
* Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks", arXiv:1801.04381,
  Table 2. Reference implementations: torchvision ``mobilenet_v2`` and timm ``mobilenetv2_100``
  (3,504,872 parameters).
"""
from __future__ import annotations

import math
from typing import Iterator, Optional, Sequence

import torch
from torch import nn

from ..blocks import MBConv
from ..layers import ConvNormAct, DepthwiseSeparableConv, make_divisible
from ..layers.conv import PaddingSpec
from ..registry import register_model
from ._builder import build, torchvision_args
from ._remap import prefixed, remap_modules
from ._mbnet import MBNet, scale_stages
from ._specs import (TF_INCEPTION_MEAN, TF_INCEPTION_STD, DSStage, MBStage, Twin, adapt_cfg, image_cfg,
                     twin_cfg)
from .base import ClassifierHead, ConvNet

__all__ = ["MobileNetV1", "MobileNetV2", "MOBILENET_V1", "MOBILENET_V2"]

# MobileNetV1, Table 1 of Howard et al. 2017 (arXiv:1704.04861): after conv3x3/s2 (32 ch), pairs of
# "dw 3x3 -> pw 1x1" grouped by output resolution; then avgpool and FC-1000.
#          s  c_out  n
MOBILENET_V1 = (
    DSStage(1,   64, 1),   # 112x112
    DSStage(2,  128, 2),   # 56x56
    DSStage(2,  256, 2),   # 28x28
    DSStage(2,  512, 6),   # 14x14: "5x" rows plus the strided one
    DSStage(2, 1024, 2),   # 7x7
    # NOTE: deviates from the paper's table, follows TF-slim and timm: Table 1 prints the last dw
    # with stride 2 at 7x7 input, a typo (the output would be 4x4 but the avg pool is 7x7); stride 1.
)


class MobileNetV1(ConvNet):
    """MobileNetV1: conv3x3/s2 -> depthwise-separable stages -> pool -> dropout -> FC.

    Each block is dw 3x3 -> BN -> act -> pw 1x1 -> BN -> act. ``width_mult`` (the paper's alpha)
    scales every width with ``make_divisible(c * alpha, 8)``.
    NOTE: deviates from the paper, follows TF-slim and timm: the activation is ReLU6 (paper: ReLU).
    Shape: (N, in_chans, H, W) -> (N, num_classes).
    """

    weight_layouts = ("timm",)

    def __init__(self, stages: Sequence[DSStage] = MOBILENET_V1, stem_channels: int = 32, *,
                 width_mult: float = 1.0, num_classes: int = 1000, in_chans: int = 3,
                 drop_rate: float = 0.0, drop_path_rate: float = 0.0, act_layer=nn.ReLU6,
                 bn_eps: float = 1e-5, bn_momentum: float = 0.1, default_cfg: Optional[dict] = None):
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"width_mult must be > 0, got {width_mult}")
        if drop_path_rate:   # accepted as 0 for timm's callers; the blocks have no residual
            raise ValueError(f"MobileNetV1 has no stochastic depth: drop_path_rate must be 0, "
                             f"got {drop_path_rate!r}")
        self.in_chans, self.num_classes = in_chans, num_classes
        nk = dict(norm="batch", norm_kwargs=dict(eps=bn_eps, momentum=bn_momentum), act_layer=act_layer)
        in_ch = make_divisible(stem_channels * width_mult)
        self.stem = ConvNormAct(in_chans, in_ch, 3, 2, **nk)
        layers, reduction = [], 2
        for i, row in enumerate(stages):
            out = make_divisible(row.out_channels * width_mult)
            blocks = []
            for j in range(row.num_layers):
                blocks.append(DepthwiseSeparableConv(in_ch, out, 3, row.stride if j == 0 else 1, **nk))
                in_ch = out
            layers.append(nn.Sequential(*blocks))
            reduction *= row.stride
            if i + 1 == len(stages) or stages[i + 1].stride > 1:
                self.feature_info.append(dict(num_chs=in_ch, reduction=reduction, module=f"stages.{i}"))
        self.stages = nn.Sequential(*layers)
        self.neck = nn.Identity()
        self.num_features = in_ch
        self.head = ClassifierHead(in_ch, num_classes, drop_rate)
        self.default_cfg = adapt_cfg(default_cfg or {}, in_chans=in_chans, num_classes=num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

    def convert_state_dict(self, state_dict: dict[str, torch.Tensor], layout: str) -> dict:
        if layout != "timm":
            raise ValueError(f"MobileNetV1 converts layout 'timm', got {layout!r}")
        m = {"stem.conv": "conv_stem", "stem.norm": "bn1", "head.fc": "classifier"}
        for i, stage in enumerate(self.stages):
            for j in range(len(stage)):
                m.update(prefixed(f"stages.{i}.{j}", f"blocks.{i}.{j}", _V1_TIMM_BLOCK))
        return remap_modules(self, state_dict, m)


# a depthwise-separable block's children in timm's DepthwiseSeparableConv (relative to the block)
_V1_TIMM_BLOCK = {"dw.conv": "conv_dw", "dw.norm": "bn1", "pw.conv": "conv_pw", "pw.norm": "bn2"}


# MobileNetV2, Table 2 of Sandler et al. 2018 (arXiv:1801.04381). Paper columns are t c n s;
# here e(=t) k s c n, with k = 3 everywhere and no SE; the activation is ReLU6.
#                block  e  k  s  c_out  n
MOBILENET_V2 = (
    MBStage(MBConv,     1, 3, 1,  16,   1),   # input 112x112x32
    MBStage(MBConv,     6, 3, 2,  24,   2),   # 112x112x16
    MBStage(MBConv,     6, 3, 2,  32,   3),   # 56x56x24
    MBStage(MBConv,     6, 3, 2,  64,   4),   # 28x28x32
    MBStage(MBConv,     6, 3, 1,  96,   3),   # 14x14x64
    MBStage(MBConv,     6, 3, 2, 160,   3),   # 14x14x96
    MBStage(MBConv,     6, 3, 1, 320,   1),   # 7x7x160
)


class MobileNetV2(MBNet):
    """MobileNetV2: conv3x3/s2 -> inverted residual stages (ReLU6, linear bottleneck) -> conv1x1 1280.

    ``width_mult`` scales the stem and stages with ``make_divisible(c * w, 8)``; the last conv keeps
    1280 channels for ``w < 1`` (paper: "for multipliers below 1, the last conv is not scaled") and
    grows as ``make_divisible(1280 * w)`` above 1, as torchvision and timm do.
    Shape: (N, in_chans, H, W) -> (N, num_classes).
    """

    def __init__(self, stages: Sequence[MBStage] = MOBILENET_V2, *, width_mult: float = 1.0,
                 depth_mult: float = 1.0, divisor: int = 8, num_classes: int = 1000, in_chans: int = 3,
                 drop_rate: float = 0.2, drop_path_rate: float = 0.0, act_layer=nn.ReLU6,
                 se_act_layer=None, padding: PaddingSpec = "same", bn_eps: float = 1e-5,
                 bn_momentum: float = 0.1, norm_layer=None, default_cfg: Optional[dict] = None,
                 output_stride: int = 32, dilation_rule: str = "timm"):
        if width_mult <= 0 or depth_mult <= 0:
            raise ValueError(f"width_mult and depth_mult must be > 0, got {width_mult}, {depth_mult}")
        super().__init__(scale_stages(stages, width_mult, depth_mult, divisor),
                         make_divisible(32 * width_mult, divisor),
                         make_divisible(1280 * max(1.0, width_mult), divisor), num_classes=num_classes,
                         in_chans=in_chans, drop_rate=drop_rate, drop_path_rate=drop_path_rate,
                         act_layer=act_layer, se_act_layer=se_act_layer, padding=padding, bn_eps=bn_eps,
                         bn_momentum=bn_momentum, norm_layer=norm_layer, default_cfg=default_cfg,
                         output_stride=output_stride, dilation_rule=dilation_rule)

    def _block_paths(self, layout: str) -> Iterator[tuple[str, str, nn.Module]]:
        """timm: ``blocks.<i>.<j>`` (as every MB net); torchvision: flat ``features.<1 + k>.conv``."""
        if layout == "timm":
            yield from super()._block_paths(layout)
            return
        for k, (i, j, b) in enumerate(self._blocks()):
            yield f"stages.{i}.{j}", f"features.{k + 1}.conv", b

    def _torchvision_map(self) -> dict[str, str]:
        """torchvision's MobileNetV2: its blocks through :func:`_tv_block`, stem ``features.0``,
        neck ``features.<n + 1>``, head ``classifier.1``."""
        n = sum(len(s) for s in self.stages)
        m = {"stem.conv": "features.0.0", "stem.norm": "features.0.1", "head.fc": "classifier.1",
             "neck.conv": f"features.{n + 1}.0", "neck.norm": f"features.{n + 1}.1"}
        for ours, theirs, b in self._block_paths("torchvision"):
            m.update(prefixed(ours, theirs, _tv_block(b)))
        return m


def _tv_block(b: MBConv) -> dict[str, str]:
    """One block's children in torchvision's ``InvertedResidual.conv`` (relative to it): expand and
    depthwise are ``Conv2dNormActivation`` (``<k>.0`` conv, ``<k>.1`` BN), the projection a bare conv
    and BN (``<k>``, ``<k + 1>``); no expand at ratio 1."""
    m, k = {}, 0
    if not isinstance(b.expand, nn.Identity):
        m["expand.conv"], m["expand.norm"], k = "0.0", "0.1", 1
    m["dw.conv"], m["dw.norm"] = f"{k}.0", f"{k}.1"
    m["project.conv"], m["project.norm"] = f"{k + 1}", f"{k + 2}"
    return m


def _check_width(width_mult) -> float:
    if not isinstance(width_mult, (int, float)) or not math.isfinite(width_mult) or width_mult <= 0:
        raise ValueError(f"width_mult must be a positive number, got {width_mult!r}")
    return float(width_mult)


# The metadata of every registered name, handed to register_model with each builder (timm's default_cfgs table).
# mobilenet_v1 loads timm's mobilenetv1_100 (trained with mean = std = 0.5, bicubic); mobilenet_v2
# torchvision's weights (bilinear resize 256, crop 224, ImageNet mean/std).
# Twins: timm's and torchvision's models of the same architecture and weights, their parameter count,
# and the paper's multiply-adds at 224 px and parameters (V1: Table 8; V2: Table 4).
#                           timm               torchvision     params     paper: GMACs  M params
TWINS = {"mobilenet_v1": Twin("mobilenetv1_100", None,          4_231_976,        0.569, 4.2),
         "mobilenet_v2": Twin("mobilenetv2_100", "mobilenet_v2", 3_504_872,        0.300, 3.4)}
PAPERS = {"mobilenet_v1": "Howard et al. 2017, arXiv:1704.04861, Table 8",
          "mobilenet_v2": "Sandler et al. 2018, arXiv:1801.04381, Table 4"}
default_cfgs = {
    "mobilenet_v1": image_cfg("mobilenet_v1", 224, mean=TF_INCEPTION_MEAN, std=TF_INCEPTION_STD,
                              interpolation="bicubic"),
    "mobilenet_v2": image_cfg("mobilenet_v2", 224, interpolation="bilinear"),
}
default_cfgs = {n: twin_cfg(cfg, TWINS[n], paper=PAPERS[n]) for n, cfg in default_cfgs.items()}


@register_model(cfg=default_cfgs["mobilenet_v1"])
def mobilenet_v1(width_mult: float = 1.0, **kwargs) -> MobileNetV1:
    """MobileNetV1 (Table 1) with width multiplier alpha = ``width_mult``; 224 px."""
    w = _check_width(width_mult)
    return build("mobilenet_v1", "MobileNetV1", MobileNetV1, kwargs, width_mult=w)


def _residual_setting(rows) -> tuple[MBStage, ...]:
    """torchvision's ``inverted_residual_setting``: rows ``[t, c, n, s]`` (Table 2's columns)."""
    try:
        return tuple(MBStage(MBConv, t, 3, s, c, n) for t, c, n, s in rows)
    except (TypeError, ValueError):
        raise ValueError(f"inverted_residual_setting must be rows [t, c, n, s], got {rows!r}") from None


@register_model(cfg=default_cfgs["mobilenet_v2"])
def mobilenet_v2(width_mult: float = 1.0, **kwargs) -> MobileNetV2:
    """MobileNetV2 (Table 2) with width multiplier ``width_mult``; 224 px, dropout 0.2.

    torchvision's arguments: ``inverted_residual_setting`` (rows ``[t, c, n, s]``), ``round_nearest``
    (channel rounding, 8), ``norm_layer``, ``dropout``, ``weights=None``, ``progress``.
    """
    w = _check_width(width_mult)
    kwargs = torchvision_args("mobilenet_v2", kwargs)
    if kwargs.get("block") is not None:
        raise ValueError("mobilenet_v2 (MobileNetV2) does not take block= (its blocks are MBConv)")
    kwargs.pop("block", None)
    if "inverted_residual_setting" in kwargs:
        kwargs["stages"] = _residual_setting(kwargs.pop("inverted_residual_setting"))
    if "round_nearest" in kwargs:
        kwargs["divisor"] = kwargs.pop("round_nearest")
    return build("mobilenet_v2", "MobileNetV2", MobileNetV2, kwargs, width_mult=w)
