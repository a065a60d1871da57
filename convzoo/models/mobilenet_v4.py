"""MobileNetV4 conv-S, conv-M and conv-L.

Qin et al. 2024, "MobileNetV4: Universal Models for the Mobile Ecosystem", arXiv:2404.10518: a stem,
four stages of plain convs, Fused-IB and Universal Inverted Bottlenecks (Sec. 3.2, Fig. 4), a 1x1
conv to 960, then pool -> 1x1 conv to 1280 -> BN -> act -> classifier (the appendix's MNv4-Conv-S,
-M and -L architecture tables; MACs and parameters of the ImageNet table, Sec. 5.1).
Reference implementation with identical parameters: timm ``mobilenetv4_conv_small/medium/large``
(its port of the TF reference, tensorflow/models ``official/vision/modeling/backbones/mobilenet.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import nn

from ..blocks import FusedMBConv, UniversalInvertedResidual
from ..layers import ConvNormAct, make_act
from ..registry import register_model
from ._builder import build
from ._remap import remap_modules
from ._specs import Twin, adapt_cfg, image_cfg, twin_cfg
from .base import ClassifierHead, ConvNet, FeatureInfo

__all__ = ["MobileNetV4", "MobileNetV4Head", "MNV4Row", "MNV4_CONV"]


@dataclass(frozen=True)
class MNV4Row:
    """One row of an MNv4 architecture table: ``n`` blocks of one kind (the first takes the stride).

    ``block``: ``"conv"`` (a full k x k conv -> BN -> act, the paper's "Conv2D"), ``"fused"`` (Fused-IB,
    :class:`~convzoo.blocks.FusedMBConv`) or ``"uib"`` (:class:`~convzoo.blocks.UniversalInvertedResidual`
    with depthwise kernels ``start``/``mid``, 0 = absent: ExtraDW, IB, ConvNext or FFN).
    """

    block: str
    start: int           # "DW K1": the depthwise kernel before the expansion (UIB only; 0: none)
    mid: int             # "DW K2": after the expansion (UIB); the conv's / Fused-IB's kernel
    stride: int
    expand: float        # expanded width / input width (1 for "conv")
    out_channels: int
    n: int = 1


R = MNV4Row
# The MNv4 tables (arXiv:2404.10518, appendix), one stage per tuple, the last conv (1x1, 960) being
# the neck. Columns: block, DW K1, DW K2, stride, expansion, out channels, repeats.
# MNv4-Conv-S (224 px; 3.8M params, 0.2G MACs)
MNV4_CONV_SMALL = (
    (R("conv", 0, 3, 2, 1, 32), R("conv", 0, 1, 1, 1, 32)),                         # 112^2 x 32
    (R("conv", 0, 3, 2, 1, 96), R("conv", 0, 1, 1, 1, 64)),                         # 56^2 x 32
    (R("uib", 5, 5, 2, 3, 96), R("uib", 0, 3, 1, 2, 96, 4), R("uib", 3, 0, 1, 4, 96)),   # 28^2 x 64
    (R("uib", 3, 3, 2, 6, 128), R("uib", 5, 5, 1, 4, 128), R("uib", 0, 5, 1, 4, 128),   # 14^2 x 96
     R("uib", 0, 5, 1, 3, 128), R("uib", 0, 3, 1, 4, 128, 2)),
)
# MNv4-Conv-M (256 px; 9.2M params, 1.0G MACs)
MNV4_CONV_MEDIUM = (
    (R("fused", 0, 3, 2, 4, 48),),                                                  # 128^2 x 32
    (R("uib", 3, 5, 2, 4, 80), R("uib", 3, 3, 1, 2, 80)),                           # 64^2 x 48
    (R("uib", 3, 5, 2, 6, 160), R("uib", 3, 3, 1, 4, 160, 2), R("uib", 3, 5, 1, 4, 160),  # 32^2 x 80
     R("uib", 3, 3, 1, 4, 160), R("uib", 3, 0, 1, 4, 160), R("uib", 0, 0, 1, 2, 160),
     R("uib", 3, 0, 1, 4, 160)),
    (R("uib", 5, 5, 2, 6, 256), R("uib", 5, 5, 1, 4, 256), R("uib", 3, 5, 1, 4, 256, 2),  # 16^2 x 160
     R("uib", 0, 0, 1, 4, 256), R("uib", 3, 0, 1, 4, 256), R("uib", 3, 5, 1, 2, 256),
     R("uib", 5, 5, 1, 4, 256), R("uib", 0, 0, 1, 4, 256, 2), R("uib", 5, 0, 1, 2, 256)),
)
# MNv4-Conv-L (384 px; 31M params, 5.9G MACs)
MNV4_CONV_LARGE = (
    (R("fused", 0, 3, 2, 4, 48),),                                                  # 192^2 x 24
    (R("uib", 3, 5, 2, 4, 96), R("uib", 3, 3, 1, 4, 96)),                           # 96^2 x 48
    (R("uib", 3, 5, 2, 4, 192), R("uib", 3, 3, 1, 4, 192, 3), R("uib", 3, 5, 1, 4, 192),  # 48^2 x 96
     R("uib", 5, 3, 1, 4, 192, 5), R("uib", 3, 0, 1, 4, 192)),
    (R("uib", 5, 5, 2, 4, 512, 4), R("uib", 5, 0, 1, 4, 512), R("uib", 5, 3, 1, 4, 512),  # 24^2 x 192
     R("uib", 5, 0, 1, 4, 512, 2), R("uib", 5, 3, 1, 4, 512), R("uib", 5, 5, 1, 4, 512),
     R("uib", 5, 0, 1, 4, 512, 3)),
)
# variant: (table, stem width, activation); every variant ends conv1x1 960 -> pool -> conv1x1 1280
MNV4_CONV = {"small": (MNV4_CONV_SMALL, 32, nn.ReLU), "medium": (MNV4_CONV_MEDIUM, 32, nn.ReLU),
             "large": (MNV4_CONV_LARGE, 24, nn.ReLU)}


class MobileNetV4Head(ClassifierHead):
    """pool -> 1x1 conv without bias (a Linear on the pooled vector) -> BN -> act -> dropout -> FC.

    MNv4 normalises its 1280-wide post-pool layer (MobileNetV3's had no BN, arXiv:1905.02244 Sec. 5.1).
    Children ``hidden``, ``hidden_norm`` (BatchNorm1d), ``act``, ``drop``, ``fc``.
    Shape: (N, C, *S) -> (N, num_classes).
    """

    def __init__(self, in_features: int, hidden_features: int, num_classes: int,
                 drop_rate: float = 0.0, act_layer=nn.ReLU, bn_eps: float = 1e-5, bn_momentum: float = 0.1):
        super().__init__(hidden_features, num_classes, drop_rate)
        self.hidden = nn.Linear(in_features, hidden_features, bias=False)
        self.hidden_norm = nn.BatchNorm1d(hidden_features, eps=bn_eps, momentum=bn_momentum)
        self.act = make_act(act_layer)

    def drop_pre_logits(self) -> None:
        super().drop_pre_logits()
        self.hidden, self.hidden_norm, self.act = nn.Identity(), nn.Identity(), nn.Identity()

    def _hidden(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.hidden_norm(self.hidden(x)))

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        # no super() call: TorchScript cannot compile one
        if self.pool_dims > 0 and self.global_pool == "":   # unpooled: the head at every position
            y = self.hidden(x.movedim(1, -1)).movedim(-1, 1)            # (N, C', *S)
            y = self.act(self.hidden_norm(y.flatten(2)).view(y.shape))  # BatchNorm1d takes (N, C, L)
            y = self.drop(y.movedim(1, -1))
            return (y if pre_logits else self.fc(y)).movedim(-1, 1)
        if self.pool_dims > 0:
            x = x.mean(self.pool_axes) if self.global_pool == "avg" else x.amax(self.pool_axes)
        x = self.drop(self._hidden(x))
        return x if pre_logits else self.fc(x)


class MobileNetV4(ConvNet):
    """MobileNetV4: conv3x3/s2 -> MNv4 stages -> conv1x1 960 -> :class:`MobileNetV4Head` (1280).

    ``stages.<i>.<j>`` are timm's ``blocks.<i>.<j>``. Stochastic depth of block i is
    ``drop_path_rate * i / (n + 1)`` over the n blocks and the 960 conv, as timm's builder counts.
    NOTE: BN eps 1e-5 and momentum 0.1 and dropout 0 are timm's defaults (the TF reference trains
    with other values; the tables fix none of them).
    Shape: (N, in_chans, H, W) -> (N, num_classes).
    """

    weight_layouts = ("timm",)

    def __init__(self, stages: Sequence[Sequence[MNV4Row]], stem_channels: int = 32, *,
                 head_channels: int = 960, hidden_channels: int = 1280, num_classes: int = 1000,
                 in_chans: int = 3, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 act_layer=nn.ReLU, bn_eps: float = 1e-5, bn_momentum: float = 0.1,
                 default_cfg: Optional[dict] = None):
        super().__init__()
        self.in_chans, self.num_classes = in_chans, num_classes
        nk = dict(norm="batch", norm_kwargs=dict(eps=bn_eps, momentum=bn_momentum))
        self.stem = ConvNormAct(in_chans, stem_channels, 3, 2, act_layer=act_layer, **nk)
        total = sum(r.n for stage in stages for r in stage) + 1      # + the 960 conv, as timm
        k, in_ch, reduction, layers = 0, stem_channels, 2, []
        self.feature_info = FeatureInfo()
        for i, stage in enumerate(stages):
            blocks = []
            for row in stage:
                for j in range(row.n):
                    blocks.append(_make_block(row, in_ch, row.stride if j == 0 else 1, act_layer,
                                              drop_path_rate * k / total, nk))
                    in_ch, k = row.out_channels, k + 1
                reduction *= row.stride
            layers.append(nn.Sequential(*blocks))
            self.feature_info.append(dict(num_chs=in_ch, reduction=reduction, module=f"stages.{i}"))
        self.stages = nn.Sequential(*layers)
        self.neck = ConvNormAct(in_ch, head_channels, 1, act_layer=act_layer, **nk)
        self.num_features = head_channels
        self.head = MobileNetV4Head(head_channels, hidden_channels, num_classes, drop_rate, act_layer,
                                    bn_eps, bn_momentum)
        self._init_weights()
        self.default_cfg = adapt_cfg(default_cfg or {}, in_chans=in_chans, num_classes=num_classes)

    def _init_weights(self) -> None:
        # He (fan-out) convs, unit norms, small Linear weights (torchvision's MobileNet init)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def convert_state_dict(self, state_dict: dict[str, torch.Tensor], layout: str) -> dict:
        if layout != "timm":
            raise ValueError(f"MobileNetV4 converts layouts ('timm',), got {layout!r}")
        last = len(self.stages)
        m = {"stem.conv": "conv_stem", "stem.norm": "bn1", "neck.conv": f"blocks.{last}.0.conv",
             "neck.norm": f"blocks.{last}.0.bn1", "head.hidden_norm": "norm_head", "head.fc": "classifier"}
        for i, stage in enumerate(self.stages):
            for j, b in enumerate(stage):
                p = f"stages.{i}.{j}"
                m.update({f"{p}.{ours}": f"blocks.{i}.{j}.{theirs}" for ours, theirs in _timm_keys(b).items()})
        # timm's conv_head is a 1x1 conv on the pooled map: (out, in, 1, 1) -> our Linear's (out, in)
        flat = {"head.hidden.weight": ("conv_head.weight", _flat)}
        return remap_modules(self, state_dict, m, flat)


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1)


def _make_block(row: MNV4Row, in_ch: int, stride: int, act_layer, drop_path: float, nk: dict) -> nn.Module:
    if row.block == "conv":
        return ConvNormAct(in_ch, row.out_channels, row.mid, stride, act_layer=act_layer, **nk)
    if row.block == "fused":
        return FusedMBConv(in_ch, row.out_channels, expand_ratio=row.expand, kernel_size=row.mid,
                           stride=stride, act_layer=act_layer, drop_path=drop_path, **nk)
    if row.block == "uib":
        return UniversalInvertedResidual(in_ch, row.out_channels, start_kernel=row.start,
                                         mid_kernel=row.mid, expand_ratio=row.expand, stride=stride,
                                         act_layer=act_layer, drop_path=drop_path, **nk)
    raise ValueError(f"MNv4 row block must be 'conv', 'fused' or 'uib', got {row.block!r}")


def _timm_keys(b: nn.Module) -> dict[str, str]:
    """Our child module -> timm's, for one block (ConvBnAct, EdgeResidual, UniversalInvertedResidual)."""
    if isinstance(b, ConvNormAct):
        return {"conv": "conv", "norm": "bn1"}
    if isinstance(b, FusedMBConv):
        return {"expand.conv": "conv_exp", "expand.norm": "bn1", "project.conv": "conv_pwl",
                "project.norm": "bn2"}
    names = {"dw_start": "dw_start", "expand": "pw_exp", "dw_mid": "dw_mid", "project": "pw_proj"}
    return {f"{ours}.{leaf}": f"{theirs}.{their_leaf}" for ours, theirs in names.items()
            for leaf, their_leaf in (("conv", "conv"), ("norm", "bn"))}


# The metadata of every registered name, handed to register_model with each builder (timm's default_cfgs table): timm's
# first-listed checkpoint of each (S: 224 px, crop 0.875; M: 256 px, crop 0.95; L: 384 px, crop 0.95).
default_cfgs = {
    "mobilenetv4_conv_small": dict(image_cfg("mobilenetv4_conv_small", 224), test_input_size=(3, 256, 256)),
    "mobilenetv4_conv_medium": dict(image_cfg("mobilenetv4_conv_medium", 256, crop_pct=0.95),
                                    test_input_size=(3, 320, 320)),
    "mobilenetv4_conv_large": dict(image_cfg("mobilenetv4_conv_large", 384, crop_pct=0.95),
                                   test_input_size=(3, 448, 448)),
}

# Twins: timm's mobilenetv4_conv_* (the TF reference's models), their parameter count, and the
# paper's ImageNet table's MACs at the default size and parameters (the released M and L are larger
# than the table says, 9.7M / 1.08G and 32.6M / 6.4G: docs/models.md).
MNV4_PAPER = "Qin et al. 2024, arXiv:2404.10518, ImageNet classification table"
#                                  params     paper: GMACs  M params  same code as
MNV4_TWINS = {"mobilenetv4_conv_small":  (3_774_024,         0.2,   None,     ""),
              "mobilenetv4_conv_medium": (9_715_512,         1.0,   9.2,      ""),
              "mobilenetv4_conv_large":  (32_590_864,        5.9,   31,       "mobilenetv4_conv_medium")}
default_cfgs = {n: twin_cfg(cfg, Twin(n, None, *MNV4_TWINS[n][:3]), paper=MNV4_PAPER, same_code=MNV4_TWINS[n][3])
                for n, cfg in default_cfgs.items()}


def _mnv4(variant: str, **kwargs) -> MobileNetV4:
    name = f"mobilenetv4_conv_{variant}"
    table, stem, act = MNV4_CONV[variant]
    kwargs.setdefault("act_layer", act)
    return build(name, "MobileNetV4", MobileNetV4, kwargs, stages=table, stem_channels=stem)


@register_model(cfg=default_cfgs["mobilenetv4_conv_small"])
def mobilenetv4_conv_small(**kwargs) -> MobileNetV4:
    """MNv4-Conv-S: plain convs, then ExtraDW / IB / ConvNext UIBs; 224 px."""
    return _mnv4("small", **kwargs)


@register_model(cfg=default_cfgs["mobilenetv4_conv_medium"])
def mobilenetv4_conv_medium(**kwargs) -> MobileNetV4:
    """MNv4-Conv-M: Fused-IB, then ExtraDW / ConvNext / FFN UIBs; 256 px."""
    return _mnv4("medium", **kwargs)


@register_model(cfg=default_cfgs["mobilenetv4_conv_large"])
def mobilenetv4_conv_large(**kwargs) -> MobileNetV4:
    """MNv4-Conv-L: Fused-IB, then ExtraDW / ConvNext UIBs; 384 px."""
    return _mnv4("large", **kwargs)
