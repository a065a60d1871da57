"""Segmentation heads over a backbone's feature maps: DeepLabV3's ASPP and MobileNetV3's LR-ASPP.

Every head takes the backbone's list of maps and the input's spatial size and returns per-pixel
logits at that size (bilinear, ``align_corners=False``, as torchvision's segmenters).
Children and layout follow torchvision's ``DeepLabHead`` / ``LRASPPHead`` module for module, so its
checkpoints convert by renaming (:mod:`convzoo.models.segmentation.segmenters`).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...layers import ConvNormAct

__all__ = ["ASPP", "DeepLabHead", "LRASPPHead", "resize_to"]


@torch.fx.wrap   # a leaf for torch.fx: ``size`` is a traced shape there, which interpolate cannot read
def resize_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize to ``size`` (H, W) with ``align_corners=False``, as torchvision's segmenters."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ASPPPooling(nn.Module):
    """Image-level features: global average pool -> conv1x1 -> BN -> ReLU -> broadcast back (bilinear).

    Shape: (N, C, H, W) -> (N, C', H, W).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = ConvNormAct(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resize_to(self.conv(self.pool(x)), x.shape[-2:])


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (Chen et al. 2017, arXiv:1706.05587, Sec. 3.3, Fig. 5).

    x -> [conv1x1, conv3x3 rate r1, r2, r3, image pooling] -> concat -> conv1x1 -> dropout 0.5.
    Every branch is conv -> BN -> ReLU with ``out_channels`` (256). Rates (12, 24, 36) are the
    paper's for output stride 8, which torchvision keeps at output stride 16 (the paper halves them).
    Children ``convs`` (5 branches, the last :class:`ASPPPooling`), ``project``, ``drop``.
    Shape: (N, C, H, W) -> (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, rates: Sequence[int] = (12, 24, 36), out_channels: int = 256,
                 drop_rate: float = 0.5):
        super().__init__()
        branches: list[nn.Module] = [ConvNormAct(in_channels, out_channels, 1)]
        branches += [ConvNormAct(in_channels, out_channels, 3, dilation=r) for r in rates]
        branches.append(ASPPPooling(in_channels, out_channels))
        self.convs = nn.ModuleList(branches)
        self.project = ConvNormAct(len(branches) * out_channels, out_channels, 1)
        self.drop = nn.Dropout(drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.project(torch.cat([b(x) for b in self.convs], dim=1)))


class DeepLabHead(nn.Module):
    """DeepLabV3's head on the last map: ASPP -> conv3x3 -> BN -> ReLU -> conv1x1 -> resize.

    Chen et al. 2017 (arXiv:1706.05587), Sec. 3.3 and torchvision's ``DeepLabHead``. Children
    ``aspp``, ``conv``, ``classifier``. Shape: [..., (N, C, h, w)], (H, W) -> (N, num_classes, H, W).
    """

    def __init__(self, in_channels: int, num_classes: int, rates: Sequence[int] = (12, 24, 36),
                 channels: int = 256):
        super().__init__()
        self.aspp = ASPP(in_channels, rates, channels)
        self.conv = ConvNormAct(channels, channels, 3)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, maps: list[torch.Tensor], size: Sequence[int]) -> torch.Tensor:
        return resize_to(self.classifier(self.conv(self.aspp(maps[-1]))), size)


class LRASPPHead(nn.Module):
    """Lite R-ASPP (Howard et al. 2019, "Searching for MobileNetV3", arXiv:1905.02244, Sec. 6.4, Fig. 10).

    high -> conv1x1 -> BN -> ReLU, gated by sigmoid(conv1x1(avgpool(high))) -> resize to low's size
    -> classifier; plus a classifier on low; sum -> resize to the input. NOTE: the paper pools with a
    49x49 kernel, stride (16, 20); torchvision (and we) pool globally, which also takes any input size.
    Children ``cbr``, ``scale`` (``scale.1`` the conv), ``low_classifier``, ``high_classifier``.
    Shape: [(N, C_low, h, w), (N, C_high, h', w')], (H, W) -> (N, num_classes, H, W).
    """

    def __init__(self, low_channels: int, high_channels: int, num_classes: int, inter_channels: int = 128):
        super().__init__()
        self.cbr = ConvNormAct(high_channels, inter_channels, 1)
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                   nn.Conv2d(high_channels, inter_channels, 1, bias=False), nn.Sigmoid())
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1)
        self.high_classifier = nn.Conv2d(inter_channels, num_classes, 1)

    def forward(self, maps: list[torch.Tensor], size: Sequence[int]) -> torch.Tensor:
        low, high = maps[0], maps[-1]
        x = resize_to(self.cbr(high) * self.scale(high), low.shape[-2:])
        return resize_to(self.low_classifier(low) + self.high_classifier(x), size)
