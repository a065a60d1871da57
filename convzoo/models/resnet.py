"""ResNet-18, -34 and -50: He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition",
CVPR 2016 (arXiv:1512.03385), Table 1 (basic blocks, Fig. 5 left; bottleneck blocks, Fig. 5 right).

The layout is torchvision's ``torchvision.models.resnet`` (same parameter count, same outputs after
loading its state dict, or timm's ``resnet18``/``resnet34``/``resnet50``, whose keys are the same):
``convert_state_dict(sd, "torchvision")`` renames its ``conv1``, ``bn1``, ``layer<i>.<j>.conv<n>``,
``bn<n>``, ``downsample.0/1`` and ``fc`` to ours.

Data flow: 7x7 conv/2, 64 -> BN -> ReLU -> 3x3 max pool/2 -> conv2_x ... conv5_x (the first block of
conv3_x..conv5_x strides by 2, with a 1x1 conv/2 + BN projection shortcut) -> global average pool -> fc.
Shape: (N, in_chans, H, W) -> (N, num_classes); features (N, 512 * expansion, H / 32, W / 32).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Union

import torch
from torch import nn

from ..layers import ConvNormAct
from ..registry import register_model
from ._builder import build, torchvision_args
from ._remap import prefixed, remap_modules
from ._specs import Twin, adapt_cfg, image_cfg, twin_cfg
from .base import ClassifierHead, ConvNet

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "ResStage", "RESNET_18", "RESNET_34", "RESNET_50"]


class BasicBlock(nn.Module):
    """The basic block (Fig. 5 left): 3x3 conv (stride) -> BN -> ReLU -> 3x3 conv -> BN, + shortcut, -> ReLU.

    Shortcut: identity, or 1x1 conv (stride) + BN when the shape changes (the paper's option B).
    Children ``conv1``, ``conv2`` (each ``conv``, ``norm``, ``act``), ``shortcut`` (``conv``, ``norm``),
    ``act``. Output width ``planes * expansion`` (1).
    Shape: (N, C_in, H, W) -> (N, planes, ceil(H / s), ceil(W / s)).
    """

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = ConvNormAct(in_channels, planes, 3, stride)
        self.conv2 = ConvNormAct(planes, planes, 3, 1, act_layer=None)
        self.shortcut = _shortcut(in_channels, planes * self.expansion, stride)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


class Bottleneck(nn.Module):
    """The bottleneck block (Fig. 5 right): 1x1 conv -> BN -> ReLU -> 3x3 conv (stride) -> BN -> ReLU
    -> 1x1 conv (x4) -> BN, + shortcut, -> ReLU.

    NOTE: deviates from the paper, follows torchvision and timm ("ResNet v1.5"): the stride is on the
    3x3 conv (the paper strides the first 1x1); this costs 4.1 instead of the paper's 3.8 GMACs.
    Children ``conv1``, ``conv2``, ``conv3``, ``shortcut``, ``act``. Output width ``planes * 4``.
    Shape: (N, C_in, H, W) -> (N, 4 * planes, ceil(H / s), ceil(W / s)).
    """

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = ConvNormAct(in_channels, planes, 1)
        self.conv2 = ConvNormAct(planes, planes, 3, stride)
        self.conv3 = ConvNormAct(planes, planes * self.expansion, 1, act_layer=None)
        self.shortcut = _shortcut(in_channels, planes * self.expansion, stride)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv3(self.conv2(self.conv1(x))) + self.shortcut(x))


def _shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return ConvNormAct(in_channels, out_channels, 1, stride, act_layer=None)


@dataclass(frozen=True)
class ResStage:
    """One row of Table 1: conv{i}_x, ``num_blocks`` blocks of width ``planes`` (x expansion out)."""
    block: Union[type[BasicBlock], type[Bottleneck]]
    planes: int
    num_blocks: int
    stride: int            # of the first block


# Table 1 of He et al. 2016 (arXiv:1512.03385), at 224 x 224. conv1: 7x7, 64, stride 2 (112 x 112);
# 3x3 max pool, stride 2; downsampling at conv3_1, conv4_1, conv5_1; average pool, 1000-d fc.
#  layer    output   18-layer        34-layer        50-layer
#  conv2_x  56x56    [3x3, 64] x2    [3x3, 64] x3    [1x1 64, 3x3 64, 1x1 256] x3
#  conv3_x  28x28    [3x3, 128] x2   [3x3, 128] x4   [1x1 128, 3x3 128, 1x1 512] x4
#  conv4_x  14x14    [3x3, 256] x2   [3x3, 256] x6   [1x1 256, 3x3 256, 1x1 1024] x6
#  conv5_x  7x7      [3x3, 512] x2   [3x3, 512] x3   [1x1 512, 3x3 512, 1x1 2048] x3
#  FLOPs (mult-adds) 1.8e9           3.6e9           3.8e9
#                    block       planes  blocks  stride
RESNET_18 = (ResStage(BasicBlock,  64,   2,  1),     # conv2_x: 56 x 56
             ResStage(BasicBlock, 128,   2,  2),     # conv3_x: 28 x 28
             ResStage(BasicBlock, 256,   2,  2),     # conv4_x: 14 x 14
             ResStage(BasicBlock, 512,   2,  2))     # conv5_x: 7 x 7
RESNET_34 = (ResStage(BasicBlock,  64,   3,  1),
             ResStage(BasicBlock, 128,   4,  2),
             ResStage(BasicBlock, 256,   6,  2),
             ResStage(BasicBlock, 512,   3,  2))
RESNET_50 = (ResStage(Bottleneck,  64,   3,  1),
             ResStage(Bottleneck, 128,   4,  2),
             ResStage(Bottleneck, 256,   6,  2),
             ResStage(Bottleneck, 512,   3,  2))
SPECS = {"resnet18": RESNET_18, "resnet34": RESNET_34, "resnet50": RESNET_50}

_PAPER = 'He et al. 2016, "Deep Residual Learning for Image Recognition", arXiv:1512.03385, Table 1'


def _cfg(name: str) -> dict:
    # torchvision's ImageNet transforms: resize 256, crop 224, bilinear
    return image_cfg(name, 224, interpolation="bilinear", crop_pct=0.875)


# The metadata of every registered name (timm's default_cfgs table). Twins: torchvision's and timm's
# models of the same names (one key layout); the paper's mult-adds (Table 1's "FLOPs") at 224 x 224.
# ResNet-50: the paper's 3.8 G is the stride-on-1x1 v1; torchvision's and timm's v1.5 count 4.09 G.
default_cfgs = {
    "resnet18": twin_cfg(_cfg("resnet18"), Twin("resnet18", "resnet18", 11_689_512, gmacs=1.8), paper=_PAPER),
    "resnet34": twin_cfg(_cfg("resnet34"), Twin("resnet34", "resnet34", 21_797_672, gmacs=3.6), paper=_PAPER,
                         same_code="resnet18"),
    "resnet50": twin_cfg(_cfg("resnet50"), Twin("resnet50", "resnet50", 25_557_032), paper=_PAPER),
}


class ResNet(ConvNet):
    """ResNet: stem (7x7 conv/2 -> BN -> ReLU -> 3x3 max pool/2) -> conv2_x ... conv5_x -> pool -> fc.

    Children ``stem`` (``conv``, ``norm``, ``act``, ``pool``), ``stages`` (torchvision's
    ``layer1..4``), ``neck`` (Identity), ``head.fc``. torchvision's init: kaiming normal (fan_out)
    convs, BN 1/0, PyTorch's default fc; ``zero_init_residual`` zeroes each block's last BN weight.
    Shape: (N, in_chans, H, W) -> (N, num_classes).
    """

    weight_layouts = ("torchvision", "timm")   # one key layout; convert_state_dict hook of load_weights

    def __init__(self, spec: Sequence[ResStage] = RESNET_18, *, num_classes: int = 1000, in_chans: int = 3,
                 drop_rate: float = 0.0, zero_init_residual: bool = False,
                 default_cfg: Optional[dict] = None):
        super().__init__()
        self.num_classes, self.in_chans = num_classes, in_chans
        self.stem = nn.Sequential(OrderedDict(
            conv=nn.Conv2d(in_chans, 64, 7, 2, 3, bias=False), norm=nn.BatchNorm2d(64),
            act=nn.ReLU(inplace=True), pool=nn.MaxPool2d(3, 2, 1)))
        self.feature_info.append(dict(num_chs=64, reduction=4, module="stem"))
        c, reduction, stages = 64, 4, []
        for i, row in enumerate(spec):
            blocks = []
            for j in range(row.num_blocks):
                blocks.append(row.block(c, row.planes, row.stride if j == 0 else 1))
                c = row.planes * row.block.expansion
            reduction *= row.stride
            stages.append(nn.Sequential(*blocks))
            self.feature_info.append(dict(num_chs=c, reduction=reduction, module=f"stages.{i}"))
        self.stages = nn.Sequential(*stages)
        self.neck = nn.Identity()
        self.num_features = c
        self.head = ClassifierHead(c, num_classes, drop_rate)
        self.default_cfg = adapt_cfg(default_cfg or {}, in_chans=in_chans, num_classes=num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    bn = (m.conv3 if isinstance(m, Bottleneck) else m.conv2).norm
                    assert isinstance(bn, nn.BatchNorm2d)
                    nn.init.zeros_(bn.weight)

    def convert_state_dict(self, state_dict: Mapping[str, torch.Tensor], layout: str = "torchvision") -> dict:
        """Rename torchvision's (= timm's) ``resnet*`` keys (``layer1.0.conv1.weight``, ``bn1``, ...)."""
        if layout == "convzoo":
            return dict(state_dict)
        if layout not in self.weight_layouts:
            raise ValueError(f"ResNet converts layouts {self.weight_layouts} (or 'convzoo'), got {layout!r}")
        m = {"stem.conv": "conv1", "stem.norm": "bn1", "head.fc": "fc"}
        for i, stage in enumerate(self.stages):
            for j, block in enumerate(stage):
                units = {f"conv{n}.conv": f"conv{n}" for n in (1, 2, 3)}
                units.update({f"conv{n}.norm": f"bn{n}" for n in (1, 2, 3)})
                units.update({"shortcut.conv": "downsample.0", "shortcut.norm": "downsample.1"})
                m.update(prefixed(f"stages.{i}.{j}", f"layer{i + 1}.{j}", units))
        return remap_modules(self, state_dict, m)


def _build(name: str, kwargs: dict) -> ResNet:
    return build(name, "ResNet", ResNet, torchvision_args(name, kwargs), spec=SPECS[name])


@register_model(cfg=default_cfgs["resnet18"])
def resnet18(**kwargs) -> ResNet:
    """ResNet-18: basic blocks [2, 2, 2, 2]; torchvision's layout (11.7 M parameters, 1.8 GMACs at 224).
    torchvision's ``weights=None`` and ``progress`` are accepted."""
    return _build("resnet18", kwargs)


@register_model(cfg=default_cfgs["resnet34"])
def resnet34(**kwargs) -> ResNet:
    """ResNet-34: basic blocks [3, 4, 6, 3] (21.8 M parameters, 3.6 GMACs at 224)."""
    return _build("resnet34", kwargs)


@register_model(cfg=default_cfgs["resnet50"])
def resnet50(**kwargs) -> ResNet:
    """ResNet-50: bottleneck blocks [3, 4, 6, 3], stride on the 3x3 (v1.5; 25.6 M parameters, 4.1 GMACs)."""
    return _build("resnet50", kwargs)
