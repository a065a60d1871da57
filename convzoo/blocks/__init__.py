"""Blocks built from convzoo.layers: the inverted residual family (with MobileNetV4's universal
inverted bottleneck) and the ConvNeXt block (V1 and V2)."""
from .convnext_block import ConvNeXtBlock
from .fused_mbconv import FusedMBConv
from .mbconv import MBConv
from .uib import UniversalInvertedResidual

__all__ = ["MBConv", "FusedMBConv", "ConvNeXtBlock", "UniversalInvertedResidual"]
